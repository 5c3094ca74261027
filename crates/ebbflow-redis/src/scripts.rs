//! The Lua scripts that make each verb one atomic step on the server, each
//! prefixed by `lua/common.lua`. [`redis::Script`] runs them by SHA and
//! loads them again when a restarted server has forgotten them.

use redis::Script;
use std::sync::LazyLock;

macro_rules! script {
    ($name:ident, $file:literal) => {
        pub(crate) static $name: LazyLock<Script> = LazyLock::new(|| {
            Script::new(concat!(include_str!("lua/common.lua"), include_str!($file)))
        });
    };
}

script!(SEND, "lua/send.lua");
script!(RECEIVE, "lua/receive.lua");
script!(REPLAY, "lua/replay.lua");
script!(DELETE, "lua/delete.lua");
script!(DELETE_BROWSED, "lua/delete_browsed.lua");
script!(VISIBILITY, "lua/visibility.lua");
script!(STATS, "lua/stats.lua");
script!(CLEAR, "lua/clear.lua");
script!(REDRIVE, "lua/redrive.lua");
script!(SOURCES, "lua/sources.lua");
script!(CREATE, "lua/create.lua");
script!(BROWSE, "lua/browse.lua");
script!(RESEAL, "lua/reseal.lua");
script!(CONSUMERS, "lua/consumers.lua");
