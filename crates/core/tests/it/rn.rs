//! Routing numbers against RFC 4694 §4: every routing number the parser accepts, written after
//! `;rn=` in a tel URI (as the ENUM zone writes `tel:{number};npdi;rn={routing_number}`),
//! matches the grammar, checked by a small reader of the grammar written apart from the parser.
//!
//! ```text
//! rn                = ";rn=" ( global-rn / local-rn )
//! global-rn         = global-hex-digits
//! global-hex-digits = "+" 1*3(DIGIT) *hex-phonedigit
//! local-rn          = 1*hex-phonedigit rn-context
//! rn-context        = ";rn-context=" rn-descriptor
//! rn-descriptor     = domainname / global-hex-digits
//! hex-phonedigit    = HEXDIG / visual-separator
//! ```
//! with RFC 3966's `visual-separator = "-" / "." / "(" / ")"` and
//! `domainname = *( domainlabel "." ) toplabel [ "." ]`.

use commonware_codec::{DecodeExt, Encode};
use npchain_core::{RoutingNumber, RoutingNumberError};
use proptest::prelude::*;

fn hex_phonedigit(c: char) -> bool {
    c.is_ascii_hexdigit() || matches!(c, '-' | '.' | '(' | ')')
}

fn global_hex_digits(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('+') else { return false };
    // 1*3(DIGIT) then *hex-phonedigit: a digit first, then anything of hex-phonedigit (digits
    // are hex-phonedigits, so the 1*3 bound does not constrain what follows)
    rest.starts_with(|c: char| c.is_ascii_digit()) && rest.chars().all(hex_phonedigit)
}

fn domainname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    let labels: Vec<&str> = s.split('.').collect();
    let label = |l: &str, top: bool| {
        let b = l.as_bytes();
        let first_ok = if top { b.first().is_some_and(u8::is_ascii_alphabetic) } else { !b.is_empty() };
        first_ok
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    let (top, rest) = labels.split_last().expect("split yields one part at least");
    label(top, true) && rest.iter().all(|l| label(l, false))
}

/// Whether `value` is what RFC 4694 allows after `;rn=` (ABNF literals are case-insensitive).
fn rfc4694_rn_value(value: &str) -> bool {
    if global_hex_digits(value) {
        return true;
    }
    let lower = value.to_ascii_lowercase();
    let Some(at) = lower.find(";rn-context=") else { return false };
    let (digits, descriptor) = (&value[..at], &value[at + ";rn-context=".len()..]);
    !digits.is_empty()
        && digits.chars().all(hex_phonedigit)
        && (global_hex_digits(descriptor) || domainname(descriptor))
}

/// Whether a tel URI's `rn` parameter, as the ENUM zone writes it, is RFC 4694.
fn rfc4694_tel_uri(uri: &str) -> bool {
    uri.split_once(";rn=").is_some_and(|(_, value)| rfc4694_rn_value(value))
}

fn checked(rn: &RoutingNumber) {
    let uri = format!("tel:+4930123456;npdi;rn={rn}");
    assert!(rfc4694_tel_uri(&uri), "{uri} is not RFC 4694");
    assert_eq!(rn.to_string(), rn.as_str());
    assert_eq!(&RoutingNumber::decode(rn.encode()).unwrap(), rn, "its canonical text decodes");
    assert_eq!(&rn.as_str().parse::<RoutingNumber>().unwrap(), rn, "its canonical text reads back");
    let hex_upper = |s: &str| !s.chars().any(|c| c.is_ascii_lowercase());
    match rn.as_str().split_once(";rn-context=") {
        None => assert!(rn.is_global() && hex_upper(rn.as_str())),
        Some((digits, ctx)) if ctx.starts_with('+') => assert!(hex_upper(digits) && hex_upper(ctx)),
        Some((digits, ctx)) => assert!(hex_upper(digits) && !ctx.chars().any(|c| c.is_ascii_uppercase())),
    }
}

#[test]
fn the_grammar_reader_reads_the_rfc_examples() {
    for ok in
        ["+49D002", "+1-202-555", "D002;rn-context=+49", "d-0;RN-CONTEXT=example.net.", "1;rn-context=a"]
    {
        assert!(rfc4694_rn_value(ok), "{ok}");
    }
    for bad in ["D002", "+D002", "+", ";rn-context=+49", "D002;rn-context=de.1", "D002;rn-context=", "G1"] {
        assert!(!rfc4694_rn_value(bad), "{bad}");
    }
}

#[test]
fn fixtures_and_examples_are_rfc4694() {
    for text in [
        "+49D001",
        "+49D002",
        "+49D003",
        "+4930999",
        "D0A1;rn-context=+49",
        "D002;rn-context=npchain.example",
    ] {
        checked(&text.parse().unwrap());
    }
}

/// Country codes of different lengths, all assigned.
const CODES: [&str; 8] = ["1", "7", "20", "44", "49", "352", "886", "998"];

fn hex(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[0-9a-fA-F]{{0,{max}}}")).expect("regex")
}

fn global() -> impl Strategy<Value = (String, String)> {
    proptest::sample::select(CODES.to_vec()).prop_flat_map(|cc| {
        hex(15 - cc.len())
            .prop_map(move |h| (format!("+{cc}{h}"), format!("+{cc}{}", h.to_ascii_uppercase())))
    })
}

fn domain() -> impl Strategy<Value = String> {
    proptest::string::string_regex(
        "([a-zA-Z0-9]([a-zA-Z0-9-]{0,5}[a-zA-Z0-9])?\\.){0,3}[a-zA-Z]([a-zA-Z0-9-]{0,5}[a-zA-Z0-9])?",
    )
    .expect("regex")
}

fn fragment() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(vec![
        "+",
        "49",
        "1",
        "0",
        "D",
        "a",
        "F0",
        "g",
        ";rn-context=",
        ";RN-Context=",
        ";",
        "=",
        "-",
        ".",
        "(",
        ")",
        "example",
        "net",
        "x-1",
        " ",
        "rn=",
        "999",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn every_global_form_is_accepted_canonically((input, canonical) in global()) {
        let rn: RoutingNumber = input.parse().unwrap();
        prop_assert_eq!(rn.as_str(), canonical.as_str());
        checked(&rn);
    }

    #[test]
    fn every_local_form_with_context_is_accepted(
        digits in hex(15).prop_filter("a digit at least", |h| !h.is_empty()),
        ctx in prop_oneof![global().prop_map(|g| g.0), domain()],
    ) {
        let rn: RoutingNumber = format!("{digits};rn-context={ctx}").parse().unwrap();
        checked(&rn);
        let expected_ctx = if ctx.starts_with('+') { ctx.to_ascii_uppercase() } else { ctx.to_ascii_lowercase() };
        prop_assert_eq!(rn.as_str(), format!("{};rn-context={expected_ctx}", digits.to_ascii_uppercase()));
    }

    #[test]
    fn a_bare_local_form_is_refused_naming_both_forms(digits in hex(15).prop_filter("a digit at least", |h| !h.is_empty())) {
        let err = RoutingNumber::parse(&digits).unwrap_err();
        let upper = digits.to_ascii_uppercase();
        prop_assert_eq!(&err, &RoutingNumberError::NeedsContext { input: digits.clone(), digits: upper.clone() });
        let text = err.to_string();
        let context_form = format!("{upper};rn-context=+49");
        let global_form = format!("+49{upper}");
        prop_assert!(text.contains(&context_form) && text.contains(&global_form), "{}", text);
    }

    /// Whatever text is accepted was RFC 4694 to begin with, and what is written is RFC 4694.
    #[test]
    fn nothing_outside_the_grammar_is_accepted(parts in proptest::collection::vec(fragment(), 0..8)) {
        let input = parts.concat();
        if let Ok(rn) = input.parse::<RoutingNumber>() {
            prop_assert!(rfc4694_rn_value(input.trim()), "accepted {:?}, not RFC 4694", input);
            checked(&rn);
        }
    }

    /// Too many hex digits, or a global form without an assigned country code, is refused.
    #[test]
    fn bounds_and_country_codes_hold(extra in hex(10), tail in hex(5)) {
        let long = format!("+49{}{extra}", "A".repeat(14));
        prop_assert!(long.parse::<RoutingNumber>().is_err());
        let too_many_local = format!("{}{extra};rn-context=+49", "B".repeat(16));
        prop_assert!(too_many_local.parse::<RoutingNumber>().is_err());
        for unassigned in ["0", "999", "80"] {
            let text = format!("+{unassigned}D{tail}");
            prop_assert!(text.parse::<RoutingNumber>().is_err(), "{}", text);
            let ctx = format!("1;rn-context={text}");
            prop_assert!(ctx.parse::<RoutingNumber>().is_err(), "{}", ctx);
        }
    }
}
