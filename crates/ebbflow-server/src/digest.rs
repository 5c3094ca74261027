//! `MD5OfMessageAttributes`, as AWS computes it (the SDKs check it).

use ebbflow_core::{AttributeValue, MessageAttributes};
use md5::{Digest, Md5};

/// The MD5 of message attributes: for each attribute in name order, the name,
/// the data type, a transport byte (1 text, 2 binary) and the value, each
/// length-prefixed with 4 bytes big-endian. `None` when there are none
/// (SQS then leaves the field out).
///
/// ```
/// use ebbflow_core::{MessageAttributeValue, MessageAttributes};
/// let mut a = MessageAttributes::new();
/// a.insert("tenant".into(), MessageAttributeValue::string("acme"));
/// assert_eq!(ebbflow_server::md5_of_message_attributes(&a).map(|s| s.len()), Some(32));
/// assert_eq!(ebbflow_server::md5_of_message_attributes(&MessageAttributes::new()), None);
/// ```
pub fn md5_of_message_attributes(attributes: &MessageAttributes) -> Option<String> {
    if attributes.is_empty() {
        return None;
    }
    fn field(md5: &mut Md5, bytes: &[u8]) {
        md5.update((bytes.len() as u32).to_be_bytes());
        md5.update(bytes);
    }
    let mut md5 = Md5::new();
    for (name, value) in attributes {
        field(&mut md5, name.as_bytes());
        field(&mut md5, value.data_type.as_bytes());
        match &value.value {
            AttributeValue::Text(text) => {
                md5.update([1u8]);
                field(&mut md5, text.as_bytes());
            }
            AttributeValue::Binary(bytes) => {
                md5.update([2u8]);
                field(&mut md5, bytes);
            }
        }
    }
    let mut out = String::with_capacity(32);
    ebbflow_core::push_hex(&mut out, &md5.finalize());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebbflow_core::MessageAttributeValue;

    #[test]
    fn matches_the_digest_aws_documents_for_one_string_attribute() {
        // Worked by hand from AWS's description: name "a", type "String", value "b".
        let mut bytes = Vec::new();
        for part in [&b"a"[..], b"String"] {
            bytes.extend((part.len() as u32).to_be_bytes());
            bytes.extend(part);
        }
        bytes.push(1);
        bytes.extend(1u32.to_be_bytes());
        bytes.extend(b"b");
        let mut expected = String::new();
        ebbflow_core::push_hex(&mut expected, &Md5::digest(&bytes));
        let mut a = MessageAttributes::new();
        a.insert("a".into(), MessageAttributeValue::string("b"));
        assert_eq!(md5_of_message_attributes(&a), Some(expected));
    }
}
