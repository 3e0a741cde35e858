//! The table of typed numbers every interface is tested with: the core parser, the migration
//! list and genesis loaders (crates/core/tests/it/numbers.rs), each number-taking HTTP endpoint
//! (crates/node/tests/http.rs) and the CLI and wallet on a devnet (crates/cli/tests/numbers.rs).
//! Read with the devnet's region DE; every number accepted is in operator OPA's demo range
//! +49150, and no two rows give the same number.

/// What reading a typed number gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The number, as its E.164 digits.
    Number(u64),
    /// Refused: [`refusal_tag`] of the error.
    Refused(&'static str),
}

/// The region the table is read with.
pub const TABLE_REGION: &str = "DE";

/// The typed numbers and what each must give.
pub const NUMBERS: &[(&str, Want)] = &[
    // accepted: international, international dialling prefix, national; spaces and hyphens
    ("+491507000001", Want::Number(491_507_000_001)),
    ("+49 1507 000002", Want::Number(491_507_000_002)),
    ("+49-1507-000003", Want::Number(491_507_000_003)),
    ("+49 150-7000-004", Want::Number(491_507_000_004)),
    ("00491507000005", Want::Number(491_507_000_005)),
    ("0049 1507 000006", Want::Number(491_507_000_006)),
    ("01507000007", Want::Number(491_507_000_007)),
    ("0150 7000008", Want::Number(491_507_000_008)),
    ("0150-700-0009", Want::Number(491_507_000_009)),
    ("+49 150 700 0010", Want::Number(491_507_000_010)),
    // empty and whitespace
    ("", Want::Refused("empty")),
    ("   ", Want::Refused("blank")),
    ("\u{a0}", Want::Refused("blank")),
    (" +491507000001", Want::Refused("separator@1")),
    ("+491507000001 ", Want::Refused("separator@14")),
    ("+49  1507000001", Want::Refused("separator@5")),
    ("+ 491507000001", Want::Refused("separator@2")),
    ("+49 -1507000001", Want::Refused("separator@5")),
    ("-491507000001", Want::Refused("separator@1")),
    ("+491507000001-", Want::Refused("separator@14")),
    // invisible characters, other spaces, control characters
    ("+491507000001\u{200b}", Want::Refused("invisible@14")),
    ("\u{feff}+491507000001", Want::Refused("invisible@1")),
    ("+49\u{200d}1507000001", Want::Refused("invisible@4")),
    ("+49\u{a0}1507000001", Want::Refused("space@4")),
    ("+49\u{3000}1507000001", Want::Refused("space@4")),
    ("+49\t1507000001", Want::Refused("control@4")),
    ("+491507000001\n", Want::Refused("control@14")),
    // digits of other scripts
    ("+４９１５０７０００００１", Want::Refused("digit@2")),
    ("+49١٥٠٧٠٠٠٠٠١", Want::Refused("digit@4")),
    // letters, never read as keypad digits (the first two were +4915035693771, +4915022233344)
    ("+49150FLOWERS1", Want::Refused("letter@7")),
    ("+49150ABCDEFGH", Want::Refused("letter@7")),
    ("abc", Want::Refused("letter@1")),
    ("+491507000001x", Want::Refused("letter@14")),
    ("+49 1507 000001 ext. 12", Want::Refused("letter@17")),
    ("tel:+491507000001", Want::Refused("letter@1")),
    // plus signs
    ("++491507000001", Want::Refused("plus@2")),
    ("+49+1507000001", Want::Refused("plus@4")),
    ("491507000001+", Want::Refused("plus@13")),
    ("+", Want::Refused("no_digits")),
    // punctuation
    ("+49.150.000.00001", Want::Refused("other@4")),
    ("+49 (1507) 000001", Want::Refused("other@5")),
    ("(0150) 7000001", Want::Refused("other@1")),
    ("+49/1507/000001", Want::Refused("other@4")),
    ("+49_1507000001", Want::Refused("other@4")),
    ("+49,1507000001", Want::Refused("other@4")),
    ("+49\u{2011}1507000001", Want::Refused("dash@4")),
    ("+49\u{2013}1507000001", Want::Refused("dash@4")),
    // length and country code
    ("+4915070000001234", Want::Refused("too_long")),
    ("+49 1507 0000 0000 12", Want::Refused("too_long")),
    ("0049 1507 0000 0000 12", Want::Refused("too_long")),
    ("+49 150", Want::Refused("too_short")),
    ("+4", Want::Refused("too_short")),
    ("0", Want::Refused("too_short")),
    ("+0491507000001", Want::Refused("no_country_code")),
    ("000491507000001", Want::Refused("no_country_code")),
    ("+999 1234567", Want::Refused("unknown_country_code")),
    // without +, neither the international nor the national prefix of DE
    ("491507000001", Want::Refused("not_dialable")),
    ("1507000001", Want::Refused("not_dialable")),
];

/// A refusal's name in the table: the kind, and for a character its class and position.
pub fn refusal_tag(e: &npchain_core::NumberError) -> String {
    use npchain_core::number::{CharClass, NumberError as E};
    match e {
        E::Empty { .. } => "empty".into(),
        E::Blank { .. } => "blank".into(),
        E::BadSeparator { position, .. } => format!("separator@{position}"),
        E::MisplacedPlus { position, .. } => format!("plus@{position}"),
        E::BadCharacter { position, class, .. } => {
            let class = match class {
                CharClass::Letter => "letter",
                CharClass::OtherDigit => "digit",
                CharClass::OtherSpace => "space",
                CharClass::Control => "control",
                CharClass::Invisible => "invisible",
                CharClass::OtherDash => "dash",
                _ => "other",
            };
            format!("{class}@{position}")
        }
        E::NoDigits { .. } => "no_digits".into(),
        E::NeedsRegion { .. } => "needs_region".into(),
        E::NotDialable { .. } => "not_dialable".into(),
        E::NoCountryCode { .. } => "no_country_code".into(),
        E::TooLong { .. } => "too_long".into(),
        E::TooShort { .. } => "too_short".into(),
        E::UnknownCountryCode { .. } => "unknown_country_code".into(),
        other => format!("{other:?}"),
    }
}
