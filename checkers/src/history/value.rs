//! The part of an op's `value` that checkers compare: write elements and read lists.
//!
//! Values are arbitrary JSON, but the only question any checker asks of them is
//! "is this write's element in that read's list?". Integers (the common case)
//! are kept as integers; anything else is kept as its canonical JSON text, so
//! equal JSON values compare equal whatever their spelling in the file.

use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};

/// One element of a protected resource, as written by a `write` and listed by a `read`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Element {
    Int(i64),
    Str(Box<str>),
    /// Any other JSON (floats, big integers, objects, nested lists), canonically printed.
    Json(Box<str>),
}

impl std::fmt::Display for Element {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Element::Int(i) => write!(f, "{i}"),
            Element::Str(s) => write!(f, "{s:?}"),
            Element::Json(j) => f.write_str(j),
        }
    }
}

/// An op's `value`, reduced to what checkers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompactValue {
    One(Element),
    List(Vec<Element>),
    Null,
}

fn canonical<E: serde::de::Error>(v: serde_json::Value) -> Result<Box<str>, E> {
    // serde_json's Map is a BTreeMap here (no `preserve_order`), so objects print
    // with sorted keys: equal objects print equal.
    serde_json::to_string(&v)
        .map(String::into_boxed_str)
        .map_err(|e| E::custom(format!("failed to print value: {e}")))
}

struct ElementVisitor;

impl<'de> Visitor<'de> for ElementVisitor {
    type Value = Element;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Element, E> {
        Ok(Element::Int(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Element, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Element::Int(i),
            Err(_) => Element::Json(v.to_string().into_boxed_str()),
        })
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Element, E> {
        Ok(Element::Json(canonical(serde_json::Value::from(v))?))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Element, E> {
        Ok(Element::Json(if v { "true" } else { "false" }.into()))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Element, E> {
        Ok(Element::Json("null".into()))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Element, E> {
        Ok(Element::Str(v.into()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Element, A::Error> {
        let v = serde_json::Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Element::Json(canonical(v)?))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Element, A::Error> {
        let v = serde_json::Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(Element::Json(canonical(v)?))
    }
}

impl<'de> Deserialize<'de> for Element {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ElementVisitor)
    }
}

struct CompactVisitor;

impl<'de> Visitor<'de> for CompactVisitor {
    type Value = CompactValue;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<CompactValue, E> {
        ElementVisitor.visit_i64(v).map(CompactValue::One)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<CompactValue, E> {
        ElementVisitor.visit_u64(v).map(CompactValue::One)
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<CompactValue, E> {
        ElementVisitor.visit_f64(v).map(CompactValue::One)
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<CompactValue, E> {
        ElementVisitor.visit_bool(v).map(CompactValue::One)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<CompactValue, E> {
        Ok(CompactValue::Null)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CompactValue, E> {
        ElementVisitor.visit_str(v).map(CompactValue::One)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CompactValue, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(e) = seq.next_element::<Element>()? {
            out.push(e);
        }
        Ok(CompactValue::List(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<CompactValue, A::Error> {
        ElementVisitor.visit_map(map).map(CompactValue::One)
    }
}

impl<'de> Deserialize<'de> for CompactValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CompactVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_json_objects_compare_equal_whatever_their_key_order() {
        let a: Element = serde_json::from_str(r#"{"b":1,"a":[2,3]}"#).unwrap();
        let b: Element = serde_json::from_str(r#"{ "a": [2, 3], "b": 1 }"#).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn a_string_element_differs_from_the_integer_it_spells() {
        let s: Element = serde_json::from_str(r#""5""#).unwrap();
        let i: Element = serde_json::from_str("5").unwrap();
        assert_ne!(s, i);
    }

    #[test]
    fn a_list_value_keeps_its_elements_in_order() {
        let v: CompactValue = serde_json::from_str(r#"[3, "x", 1.5]"#).unwrap();
        assert_eq!(
            v,
            CompactValue::List(vec![
                Element::Int(3),
                Element::Str("x".into()),
                Element::Json("1.5".into())
            ])
        );
    }
}
