//! Who is looking, and what they may do: the keys and per-queue rules of
//! `ebbflow serve` ([`Key`]), signed session cookies, and the CSRF token
//! every form carries.
//!
//! With keys, a person signs in with an access key id and its secret and
//! gets a session cookie (HMAC-signed, 12 hours, `HttpOnly`,
//! `SameSite=Strict`); a script sends the same pair as HTTP Basic
//! credentials instead. Without keys the dashboard is open (loopback by
//! default) and every visitor may do everything.
//!
//! Every `POST` from a browser carries a token bound to its cookie: a form
//! posted from another site cannot know it. Requests with Basic credentials
//! need none, since browsers never attach those on their own (the dashboard
//! never asks them to).

use ebbflow_core::access::Key;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "ebbflow_session";
/// The cookie an open dashboard binds its CSRF tokens to.
pub const VISITOR_COOKIE: &str = "ebbflow_visitor";
/// How long a sign-in lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The dashboard's view of access: the keys (none for an open dashboard)
/// and the process's secret that signs cookies and tokens.
pub struct Access {
    keys: Option<HashMap<String, Key>>,
    secret: [u8; 32],
}

/// Who made a request.
#[derive(Debug, Clone)]
pub enum Visitor {
    /// An open dashboard: anyone may do everything.
    Open {
        /// The visitor cookie's value the CSRF token is bound to.
        cookie: String,
    },
    /// Signed in, or Basic credentials.
    Key {
        /// The access key id.
        id: String,
        /// Its rules.
        key: Key,
        /// The session cookie, for the CSRF token; `None` for Basic
        /// credentials, which need no token.
        session: Option<String>,
    },
    /// Nobody yet: the sign-in page.
    Anonymous,
}

impl Visitor {
    /// Whether it may do `action` (an SQS action name) on `queue`.
    pub fn allows(&self, action: &str, queue: Option<&str>) -> bool {
        match self {
            Visitor::Open { .. } => true,
            Visitor::Key { key, .. } => key.allows(action, queue),
            Visitor::Anonymous => false,
        }
    }

    /// Whether it may look at `queue` (its counts, settings and messages).
    pub fn sees(&self, queue: &str) -> bool {
        self.allows("GetQueueAttributes", Some(queue))
    }

    /// The name the audit log gives it.
    pub fn name(&self) -> &str {
        match self {
            Visitor::Open { .. } => "(open dashboard)",
            Visitor::Key { id, .. } => id,
            Visitor::Anonymous => "(anonymous)",
        }
    }
}

impl Access {
    /// Access by `keys` (access key id → rules); `None` runs open.
    pub fn new(keys: Option<HashMap<String, Key>>) -> Self {
        let mut secret = [0u8; 32];
        if getrandom::fill(&mut secret).is_err() {
            // No system randomness: sessions from this process still differ
            // from every other process's, only less unpredictably.
            secret = std::array::from_fn(|_| fastrand::u8(..));
        }
        Self { keys, secret }
    }

    /// Whether visitors must sign in.
    pub fn is_open(&self) -> bool {
        self.keys.is_none()
    }

    fn sign(&self, text: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(text.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// Who sent a request with these cookies and `Authorization` header.
    pub fn visitor(
        &self,
        cookies: &HashMap<String, String>,
        authorization: Option<&str>,
    ) -> Visitor {
        let Some(keys) = &self.keys else {
            return Visitor::Open {
                cookie: cookies.get(VISITOR_COOKIE).cloned().unwrap_or_default(),
            };
        };
        if let Some((id, secret)) = authorization.and_then(basic) {
            return match keys.get(&id) {
                Some(key) if same(key.secret.as_bytes(), secret.as_bytes()) => Visitor::Key {
                    id,
                    key: key.clone(),
                    session: None,
                },
                _ => Visitor::Anonymous,
            };
        }
        let Some(cookie) = cookies.get(SESSION_COOKIE) else {
            return Visitor::Anonymous;
        };
        match self.session_of(cookie) {
            Some(id) => match keys.get(&id) {
                Some(key) => Visitor::Key {
                    id,
                    key: key.clone(),
                    session: Some(cookie.clone()),
                },
                None => Visitor::Anonymous,
            },
            None => Visitor::Anonymous,
        }
    }

    /// The key id a session cookie names, if its signature holds and it has
    /// not expired.
    fn session_of(&self, cookie: &str) -> Option<String> {
        let (body, signature) = cookie.rsplit_once('.')?;
        if !same(self.sign(body).as_bytes(), signature.as_bytes()) {
            return None;
        }
        let (expires, id) = body.split_once('.')?;
        let expires: u64 = expires.parse().ok()?;
        (expires > now_s()).then(|| id.to_owned())
    }

    /// Checks an access key id and secret; the session cookie's value on success.
    pub fn sign_in(&self, id: &str, secret: &str) -> Option<String> {
        let key = self.keys.as_ref()?.get(id)?;
        if !same(key.secret.as_bytes(), secret.as_bytes()) {
            return None;
        }
        let body = format!("{}.{id}", now_s() + SESSION_LIFETIME.as_secs());
        let signature = self.sign(&body);
        Some(format!("{body}.{signature}"))
    }

    /// A fresh value for an open dashboard's visitor cookie.
    pub fn new_visitor(&self) -> String {
        self.sign(&format!("visitor.{}.{}", now_s(), fastrand::u64(..)))
    }

    /// The CSRF token forms carry for `visitor`; `None` where none is needed
    /// (Basic credentials) or none can be made (no cookie yet).
    pub fn csrf(&self, visitor: &Visitor) -> Option<String> {
        match visitor {
            Visitor::Open { cookie } if !cookie.is_empty() => {
                Some(self.sign(&format!("csrf.{cookie}")))
            }
            Visitor::Key {
                session: Some(s), ..
            } => Some(self.sign(&format!("csrf.{s}"))),
            _ => None,
        }
    }

    /// Whether a `POST` from `visitor` carrying `token` may go ahead.
    pub fn csrf_holds(&self, visitor: &Visitor, token: Option<&str>) -> bool {
        match visitor {
            Visitor::Key { session: None, .. } => true,
            Visitor::Anonymous => false,
            v => match (self.csrf(v), token) {
                (Some(expected), Some(got)) => same(expected.as_bytes(), got.as_bytes()),
                _ => false,
            },
        }
    }
}

/// `Basic base64(id:secret)`, read.
fn basic(header: &str) -> Option<(String, String)> {
    use base64::Engine;
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Compares secrets in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    ebbflow_core::push_hex(&mut out, bytes);
    out
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Access {
        let viewer = Key {
            secret: "view-secret".into(),
            actions: vec!["read".into()],
            queues: vec!["orders*".into()],
        };
        Access::new(Some(HashMap::from([
            ("admin".to_owned(), Key::full("admin-secret")),
            ("viewer".to_owned(), viewer),
        ])))
    }

    fn cookies(session: &str) -> HashMap<String, String> {
        HashMap::from([(SESSION_COOKIE.to_owned(), session.to_owned())])
    }

    #[test]
    fn a_session_names_its_key_until_tampered_with() {
        let access = keys();
        assert!(access.sign_in("admin", "wrong").is_none());
        assert!(access.sign_in("nobody", "admin-secret").is_none());
        let session = access.sign_in("viewer", "view-secret").expect("signed in");
        let v = access.visitor(&cookies(&session), None);
        assert!(matches!(&v, Visitor::Key { id, .. } if id == "viewer"));
        assert!(v.sees("orders") && !v.sees("billing"));
        assert!(!v.allows("SendMessage", Some("orders")));
        // Another key's id in the same signed cookie is refused.
        let forged = session.replacen("viewer", "admin", 1);
        assert!(matches!(
            access.visitor(&cookies(&forged), None),
            Visitor::Anonymous
        ));
        // A cookie from another process (another secret) is refused.
        assert!(matches!(
            keys().visitor(&cookies(&session), None),
            Visitor::Anonymous
        ));
    }

    #[test]
    fn basic_credentials_need_no_token_but_a_session_does() {
        let access = keys();
        let basic = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                "admin:admin-secret"
            )
        );
        let script = access.visitor(&HashMap::new(), Some(&basic));
        assert!(access.csrf_holds(&script, None));
        let session = access.sign_in("admin", "admin-secret").expect("signed in");
        let browser = access.visitor(&cookies(&session), None);
        assert!(!access.csrf_holds(&browser, None));
        assert!(!access.csrf_holds(&browser, Some("0000")));
        let token = access.csrf(&browser);
        assert!(access.csrf_holds(&browser, token.as_deref()));
        // The token of one session does not serve another.
        let other = access.visitor(
            &cookies(&access.sign_in("viewer", "view-secret").expect("in")),
            None,
        );
        assert!(!access.csrf_holds(&other, token.as_deref()));
    }

    #[test]
    fn an_open_dashboard_still_wants_the_token_of_its_visitor_cookie() {
        let access = Access::new(None);
        let none = access.visitor(&HashMap::new(), None);
        assert!(!access.csrf_holds(&none, None));
        let cookie = access.new_visitor();
        let v = access.visitor(&HashMap::from([(VISITOR_COOKIE.to_owned(), cookie)]), None);
        assert!(v.allows("PurgeQueue", Some("orders")));
        let token = access.csrf(&v);
        assert!(access.csrf_holds(&v, token.as_deref()));
        assert!(!access.csrf_holds(&v, Some("forged")));
    }
}
