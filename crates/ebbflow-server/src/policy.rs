//! A queue's `Policy`, evaluated as IAM evaluates a resource policy: a
//! `Deny` that applies wins over any `Allow`; an `Allow` applies when its
//! principal, action and every `Condition` match. The conditions SQS users
//! write are read (`aws:SourceArn`, `aws:SourceAccount`,
//! `aws:SecureTransport`, with the `String…`, `Arn…` and `Bool` operators and
//! their `…IfExists` forms); a statement with anything else is refused when
//! the policy is set ([`check`]), and never read as a grant.

use serde_json::{Map, Value};

/// What a request brings for the conditions to read.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Whether it came over HTTPS.
    pub secure_transport: bool,
    /// `aws:SourceArn`: the resource a service principal acts for. A client
    /// of `ebbflow serve` is no service, so it has none.
    pub source_arn: Option<String>,
    /// `aws:SourceAccount`, likewise.
    pub source_account: Option<String>,
}

/// What a policy says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A statement allows it and none denies it.
    Allow,
    /// A statement denies it (or a `Deny` that cannot be read: it is taken
    /// to apply).
    Deny,
    /// Nothing in the policy speaks of it.
    NotApplicable,
}

/// Statements a policy may hold at most.
const MAX_STATEMENTS: usize = 100;

/// Why a policy cannot be evaluated.
type Unreadable = String;

/// Checks that every statement of `policy` can be evaluated: `SetQueueAttributes`
/// and `CreateQueue` refuse one that cannot (`InvalidAttributeValue`).
pub fn check(policy: &str) -> Result<(), Unreadable> {
    let doc: Value =
        serde_json::from_str(policy).map_err(|e| format!("the policy is not JSON: {e}"))?;
    let statements = statements(&doc)?;
    if statements.len() > MAX_STATEMENTS {
        return Err(format!(
            "a policy holds at most {MAX_STATEMENTS} statements"
        ));
    }
    for (i, st) in statements.iter().enumerate() {
        Statement::read(st).map_err(|why| format!("Statement {}: {why}", i + 1))?;
    }
    Ok(())
}

/// What `policy` says of `key_id` calling `action` (a batch goes with its
/// single action) in `context`.
pub fn evaluate(policy: &str, key_id: &str, action: &str, context: &Context) -> Verdict {
    let Ok(doc) = serde_json::from_str::<Value>(policy) else {
        return Verdict::NotApplicable;
    };
    let Ok(statements) = statements(&doc) else {
        return Verdict::NotApplicable;
    };
    let mut verdict = Verdict::NotApplicable;
    for st in statements.iter().take(MAX_STATEMENTS) {
        match Statement::read(st) {
            Ok(s) if s.applies(key_id, action, context) => {
                if s.deny {
                    return Verdict::Deny;
                }
                verdict = Verdict::Allow;
            }
            Ok(_) => {}
            // Written before this check existed, or by another tool: a Deny
            // nobody can read still denies; an Allow nobody can read grants nothing.
            Err(_) if st.get("Effect").and_then(Value::as_str) == Some("Deny") => {
                return Verdict::Deny
            }
            Err(_) => {}
        }
    }
    verdict
}

fn statements(doc: &Value) -> Result<Vec<&Value>, Unreadable> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => Ok(a.iter().collect()),
        Some(o @ Value::Object(_)) => Ok(vec![o]),
        None => Ok(Vec::new()),
        Some(_) => Err("Statement is neither a statement nor a list of them".to_owned()),
    }
}

/// One statement, read.
struct Statement<'a> {
    deny: bool,
    principals: Vec<&'a str>,
    actions: Vec<&'a str>,
    conditions: Vec<Condition<'a>>,
}

/// One condition: an operator over one key and the values it may take.
struct Condition<'a> {
    op: Operator,
    negated: bool,
    if_exists: bool,
    key: ContextKey,
    values: Vec<&'a str>,
}

#[derive(Clone, Copy)]
enum Operator {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    ArnEquals,
    ArnLike,
    Bool,
}

#[derive(Clone, Copy)]
enum ContextKey {
    SourceArn,
    SourceAccount,
    SecureTransport,
}

fn strings<'a>(v: &'a Value, what: &str) -> Result<Vec<&'a str>, Unreadable> {
    match v {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(a) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| format!("{what} holds a non-string"))
            })
            .collect(),
        Value::Bool(b) => Ok(vec![if *b { "true" } else { "false" }]),
        _ => Err(format!("{what} is neither a string nor a list of strings")),
    }
}

impl<'a> Statement<'a> {
    fn read(st: &'a Value) -> Result<Self, Unreadable> {
        let Some(map) = st.as_object() else {
            return Err("not an object".to_owned());
        };
        for unsupported in ["NotPrincipal", "NotAction", "NotResource"] {
            if map.contains_key(unsupported) {
                return Err(format!("{unsupported} is not supported"));
            }
        }
        let deny = match map.get("Effect").and_then(Value::as_str) {
            Some("Allow") => false,
            Some("Deny") => true,
            _ => return Err("Effect is neither Allow nor Deny".to_owned()),
        };
        let principals = match map.get("Principal") {
            Some(Value::String(s)) if s == "*" => vec!["*"],
            Some(Value::Object(p)) => {
                if p.keys().any(|k| k != "AWS") {
                    return Err("Principal names only AWS principals here".to_owned());
                }
                match p.get("AWS") {
                    Some(v) => strings(v, "Principal.AWS")?,
                    None => Vec::new(),
                }
            }
            _ => return Err("Principal is missing or not `*` / {\"AWS\": …}".to_owned()),
        };
        let actions = strings(
            map.get("Action")
                .ok_or_else(|| "Action is missing".to_owned())?,
            "Action",
        )?;
        let conditions = match map.get("Condition") {
            None => Vec::new(),
            Some(Value::Object(c)) => conditions(c)?,
            Some(_) => return Err("Condition is not an object".to_owned()),
        };
        Ok(Self {
            deny,
            principals,
            actions,
            conditions,
        })
    }

    fn applies(&self, key_id: &str, action: &str, context: &Context) -> bool {
        let who = self
            .principals
            .iter()
            .any(|p| *p == "*" || principal(p) == key_id);
        let single = ebbflow_core::access::unbatched(action);
        let what = self.actions.iter().any(|a| {
            let name = a
                .split_once(':')
                .filter(|(service, _)| service.eq_ignore_ascii_case("sqs"))
                .map_or(*a, |(_, name)| name);
            glob(&name.to_ascii_lowercase(), &action.to_ascii_lowercase())
                || glob(&name.to_ascii_lowercase(), &single.to_ascii_lowercase())
        });
        who && what && self.conditions.iter().all(|c| c.holds(context))
    }
}

fn conditions(map: &Map<String, Value>) -> Result<Vec<Condition<'_>>, Unreadable> {
    let mut out = Vec::new();
    for (operator, keys) in map {
        let (base, if_exists) = match operator.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (operator.as_str(), false),
        };
        let (op, negated) = match base {
            "StringEquals" => (Operator::StringEquals, false),
            "StringNotEquals" => (Operator::StringEquals, true),
            "StringEqualsIgnoreCase" => (Operator::StringEqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (Operator::StringEqualsIgnoreCase, true),
            "StringLike" => (Operator::StringLike, false),
            "StringNotLike" => (Operator::StringLike, true),
            "ArnEquals" => (Operator::ArnEquals, false),
            "ArnNotEquals" => (Operator::ArnEquals, true),
            "ArnLike" => (Operator::ArnLike, false),
            "ArnNotLike" => (Operator::ArnLike, true),
            "Bool" => (Operator::Bool, false),
            other => return Err(format!("the condition operator {other} is not supported")),
        };
        let Some(keys) = keys.as_object() else {
            return Err(format!("Condition.{operator} is not an object"));
        };
        for (key, values) in keys {
            let context_key = match key.to_ascii_lowercase().as_str() {
                "aws:sourcearn" => ContextKey::SourceArn,
                "aws:sourceaccount" => ContextKey::SourceAccount,
                "aws:securetransport" => ContextKey::SecureTransport,
                _ => return Err(format!("the condition key {key} is not supported")),
            };
            out.push(Condition {
                op,
                negated,
                if_exists,
                key: context_key,
                values: strings(values, &format!("Condition.{operator}.{key}"))?,
            });
        }
    }
    Ok(out)
}

impl Condition<'_> {
    fn holds(&self, context: &Context) -> bool {
        let secure = if context.secure_transport {
            "true"
        } else {
            "false"
        };
        let actual = match self.key {
            ContextKey::SourceArn => context.source_arn.as_deref(),
            ContextKey::SourceAccount => context.source_account.as_deref(),
            ContextKey::SecureTransport => Some(secure),
        };
        let Some(actual) = actual else {
            // IAM: a missing key fails a positive test, passes a negated one,
            // and passes any `…IfExists` test.
            return self.if_exists || self.negated;
        };
        let matched = self.values.iter().any(|v| match self.op {
            Operator::StringEquals | Operator::ArnEquals => *v == actual,
            Operator::StringEqualsIgnoreCase | Operator::Bool => v.eq_ignore_ascii_case(actual),
            Operator::StringLike | Operator::ArnLike => glob(v, actual),
        });
        matched != self.negated
    }
}

/// The principal a grant names: an access key id, also written as an IAM ARN.
fn principal(text: &str) -> &str {
    text.strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.strip_suffix(":root"))
        .unwrap_or(text)
}

/// Whether `text` matches `pattern`, where `*` is any run and `?` any one
/// character. Iterative, linear in practice: one backtrack point, the last `*`.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context::default()
    }

    #[test]
    fn a_policy_grants_its_principals_their_actions() {
        let policy = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"a","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::AKIDA:root"]},"Action":["SQS:SendMessage"]},
            {"Sid":"b","Effect":"Allow","Principal":{"AWS":"AKIDB"},"Action":"SQS:*"}]}"#;
        assert_eq!(
            evaluate(policy, "AKIDA", "SendMessage", &ctx()),
            Verdict::Allow
        );
        assert_eq!(
            evaluate(policy, "AKIDA", "SendMessageBatch", &ctx()),
            Verdict::Allow
        );
        assert_eq!(
            evaluate(policy, "AKIDA", "ReceiveMessage", &ctx()),
            Verdict::NotApplicable
        );
        assert_eq!(
            evaluate(policy, "AKIDB", "PurgeQueue", &ctx()),
            Verdict::Allow
        );
        assert_eq!(
            evaluate(policy, "AKIDC", "SendMessage", &ctx()),
            Verdict::NotApplicable
        );
        assert_eq!(
            evaluate("not json", "AKIDA", "SendMessage", &ctx()),
            Verdict::NotApplicable
        );
    }

    #[test]
    fn deny_wins_over_allow() {
        let policy = r#"{"Statement":[
            {"Effect":"Allow","Principal":"*","Action":"sqs:*"},
            {"Effect":"Deny","Principal":{"AWS":"AKIDX"},"Action":"sqs:Purge*"}]}"#;
        assert_eq!(
            evaluate(policy, "AKIDX", "PurgeQueue", &ctx()),
            Verdict::Deny
        );
        assert_eq!(
            evaluate(policy, "AKIDX", "SendMessage", &ctx()),
            Verdict::Allow
        );
        assert_eq!(
            evaluate(policy, "AKIDY", "PurgeQueue", &ctx()),
            Verdict::Allow
        );
    }

    #[test]
    fn conditions_are_evaluated_not_ignored() {
        // The usual shape: everybody, but only from one SNS topic.
        let sns = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage",
            "Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:1:topic"}}}}"#;
        assert!(check(sns).is_ok());
        assert_eq!(
            evaluate(sns, "AKIDX", "SendMessage", &ctx()),
            Verdict::NotApplicable
        );
        let from_topic = Context {
            source_arn: Some("arn:aws:sns:us-east-1:1:topic".into()),
            ..ctx()
        };
        assert_eq!(
            evaluate(sns, "AKIDX", "SendMessage", &from_topic),
            Verdict::Allow
        );
        let tls_only = r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"*",
            "Condition":{"Bool":{"aws:SecureTransport":"false"}}}}"#;
        assert_eq!(
            evaluate(tls_only, "AKIDX", "SendMessage", &ctx()),
            Verdict::Deny
        );
        let secure = Context {
            secure_transport: true,
            ..ctx()
        };
        assert_eq!(
            evaluate(tls_only, "AKIDX", "SendMessage", &secure),
            Verdict::NotApplicable
        );
        let not_like = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*",
            "Condition":{"StringNotLikeIfExists":{"aws:SourceAccount":"12*"}}}}"#;
        assert_eq!(
            evaluate(not_like, "AKIDX", "SendMessage", &ctx()),
            Verdict::Allow
        );
    }

    #[test]
    fn what_cannot_be_evaluated_is_refused_and_never_grants() {
        for policy in [
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}"#,
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}}"#,
            r#"{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"x"},"Action":"*"}}"#,
            r#"{"Statement":{"Effect":"Maybe","Principal":"*","Action":"*"}}"#,
        ] {
            assert!(check(policy).is_err(), "{policy}");
            assert_ne!(
                evaluate(policy, "AKIDX", "SendMessage", &ctx()),
                Verdict::Allow,
                "{policy}"
            );
        }
        let deny = r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}"#;
        assert_eq!(
            evaluate(deny, "AKIDX", "SendMessage", &ctx()),
            Verdict::Deny
        );
    }

    #[test]
    fn globs_match_runs_and_single_characters() {
        assert!(glob("arn:aws:sns:*:1:*", "arn:aws:sns:us-east-1:1:t"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(glob("*", ""));
        assert!(!glob("x*", "yx"));
        assert!(glob(&"*a".repeat(20), &"a".repeat(40)));
        assert!(!glob(&"*a".repeat(20), &"b".repeat(4000)));
    }
}
