//! The number grammar read by every interface: canonical forms, refusals that name the
//! character and its place, regions, and the prefixes a number is looked up by.

use super::*;

fn de() -> Option<Region> {
    Some("DE".parse().unwrap())
}

fn region(id: &str) -> Option<Region> {
    Some(id.parse().unwrap())
}

fn reads(input: &str, region: Option<Region>) -> String {
    E164::parse(input, region).map_or_else(|e| format!("error: {e}"), |n| n.to_string())
}

#[test]
fn international_and_national_forms_give_one_canonical_number() {
    for form in ["+49 30 1234567", "+49-30-1234567", "+49 30-123 4567", "+49301234567"] {
        assert_eq!(reads(form, None), "+49301234567", "{form}");
        assert_eq!(reads(form, de()), "+49301234567", "{form}");
    }
    // the international dialling prefix and national form need the region to be read
    assert_eq!(reads("0049 30 1234567", de()), "+49301234567");
    assert_eq!(reads("030 1234567", de()), "+49301234567");
    assert_eq!(reads("+1 202 555 0142", de()), "+12025550142");
    for text in ["0049301234567", "030 1234567"] {
        assert!(matches!(E164::parse(text, None), Err(NumberError::NeedsRegion { .. })), "{text}");
    }
    // other regions' prefixes: the US dials 011 abroad and 1 before a national number;
    // Italy has no national prefix (its 0 belongs to the number)
    assert_eq!(reads("011 49 30 1234567", region("US")), "+49301234567");
    assert_eq!(reads("1 202 555 0142", region("US")), "+12025550142");
    assert_eq!(reads("06 1234 5678", region("IT")), "+390612345678");
    assert!(E164::parse("0049 30 1234567", region("US")).is_err(), "00 is not the US prefix");
    // non-geographic country codes
    assert_eq!(reads("+800 1234 5678", None), "+80012345678");
}

#[test]
fn numbers_unknown_to_the_library_metadata_are_accepted() {
    // A well-formed number that the metadata would call invalid is still a number; the
    // ledger's ranges decide whether it exists.
    assert_eq!(reads("+49 999 0000000", None), "+499990000000");
    assert_eq!(reads("+683 4002", None), "+6834002", "seven digits: the shortest in service");
}

#[test]
fn refusals_quote_the_input_debug_escaped_and_name_the_character() {
    let e = E164::parse("+4915000000001\u{200b}", de()).unwrap_err().to_string();
    assert!(e.starts_with(r#"number "+4915000000001\u{200b}": character 15, '\u{200b}' (U+200B), is an invisible character; expected +"#), "{e}");
    let e = E164::parse("+49150FLOWERS1", de()).unwrap_err().to_string();
    assert!(e.contains("character 7, 'F' (U+0046), is a letter"), "{e}");
    let e = E164::parse("", de()).unwrap_err().to_string();
    assert!(e.starts_with("the number is empty; expected"), "{e}");
    let e = E164::parse("4915000000001", de()).unwrap_err().to_string();
    assert!(e.contains("international prefix 00 of region DE nor its national prefix 0"), "{e}");
    let e = E164::parse("0150 18000001", None).unwrap_err().to_string();
    assert!(e.starts_with(r#"number "0150 18000001" does not begin with +, and no region"#), "{e}");
    let e = E164::parse("abc", None).unwrap_err().to_string();
    assert!(e.contains("is a letter") && !e.contains("in national form"), "not called national form: {e}");
    let e = E164::parse("+49 150", de()).unwrap_err().to_string();
    assert!(e.contains("has 5 digits") && e.contains("7 to 15"), "{e}");
}

#[test]
fn letters_are_never_keypad_digits() {
    for c in ('a'..='z').chain('A'..='Z') {
        let text = format!("+4915{c}0000001");
        let e = E164::parse(&text, de()).unwrap_err();
        assert!(matches!(e, NumberError::BadCharacter { position: 6, class: CharClass::Letter, .. }), "{e}");
    }
}

#[test]
fn prefixes_run_longest_first() {
    let n: E164 = "+4930123".parse().unwrap();
    let p: Vec<String> = n.prefixes().map(|p| p.to_string()).collect();
    assert_eq!(p, ["+4930123", "+493012", "+49301", "+4930", "+493", "+49", "+4"]);
    assert!("+4930".parse::<Prefix>().unwrap().contains(n));
    assert!(!"+4931".parse::<Prefix>().unwrap().contains(n));
}

#[test]
fn prefix_grammar() {
    for bad in ["4930", "+", "+0493", "+49a", "+1234567890123456", "", " +4930", "+49 30 "] {
        assert!(bad.parse::<Prefix>().is_err(), "{bad}");
    }
    assert_eq!("+1".parse::<Prefix>().unwrap().len(), 1);
    assert_eq!("+49 30".parse::<Prefix>().unwrap().to_string(), "+4930");
    assert_eq!(Prefix::parse("030", de()).unwrap().to_string(), "+4930");
    assert!(matches!(Prefix::parse("4930", de()), Err(NumberError::NotDialable { .. })));
    let e = Prefix::parse("+49 3O", de()).unwrap_err().to_string();
    assert!(e.starts_with(r#"prefix "+49 3O": character 6, 'O'"#), "{e}");
}

#[test]
fn decoding_rejects_non_numbers() {
    use commonware_codec::{DecodeExt, Encode};
    assert!(E164::decode(0u64.encode()).is_err());
    assert!(E164::decode(10u64.pow(15).encode()).is_err());
    let n = E164::from_value(10u64.pow(15) - 1).unwrap();
    assert_eq!(E164::decode(n.encode()).unwrap(), n);
    let bad_prefix = (3u8, 4930u64).encode();
    assert!(Prefix::decode(bad_prefix).is_err());
}
