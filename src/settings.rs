//! The `GREENSHIM_*` settings, shared by the launcher (`greenshim`) and the preload library.
//!
//! Parsing is pure: the caller reads the environment and hands the `(name, value)` pairs to
//! [`from_vars`]. Nothing here does I/O; the only allocations are the `String`s of error lines,
//! so this is safe to call from the preload library's constructor.
//!
//! Every error is ONE complete line (no trailing newline) that names the variable, its value and
//! the accepted form, ready to be written to stderr as is.

/// Smallest accepted stack size (glibc's `PTHREAD_STACK_MIN`).
pub const STACK_SIZE_MIN: usize = 16 * 1024;
/// Largest accepted stack size: 1 GiB.
pub const STACK_SIZE_MAX: usize = 1 << 30;
/// Stack size of a greenlet when `GREENSHIM_STACK_SIZE` is not set.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Sizes are rounded up to a multiple of this (the page size).
const PAGE: usize = 4096;

/// Settings given through `GREENSHIM_*` environment variables. `None` means "not set".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    /// `GREENSHIM_STACK_SIZE`, in bytes (a multiple of 4096 within
    /// `STACK_SIZE_MIN..=STACK_SIZE_MAX`).
    pub stack_size: Option<usize>,
}

impl Settings {
    /// The stack size to use: the one set, or [`DEFAULT_STACK_SIZE`].
    pub fn effective_stack_size(&self) -> usize {
        self.stack_size.unwrap_or(DEFAULT_STACK_SIZE)
    }
}

/// Every `GREENSHIM_*` setting the project knows, with a one-line description (for `--help`
/// and for rejecting unknown names). Add new settings here and in [`from_vars`].
pub const KNOWN: &[(&str, &str)] = &[(
    "GREENSHIM_STACK_SIZE",
    "stack size of each greenlet: bytes with an optional K, M or G suffix, 16K..1G (default 256K)",
)];

/// `GREENSHIM_*` variables that are not settings of the preload library (the launcher's own);
/// [`from_vars`] ignores them instead of rejecting them as unknown.
pub const LAUNCHER_ONLY: &[&str] = &["GREENSHIM_LIB"];

/// The prefix that marks a variable as ours.
pub const PREFIX: &str = "GREENSHIM_";

/// The accepted form of a size, as [`parse_size`] reports it.
const SIZE_FORM: &str = "expected bytes with an optional K, M or G suffix between 16K and 1G";

/// Parse the settings from `(name, value)` pairs: all environment variables may be passed,
/// those not starting with `GREENSHIM_` are ignored. An empty value counts as not set.
///
/// `Err` is one line naming the variable, the bad value and the accepted form, e.g.
/// `greenshim: GREENSHIM_STACK_SIZE='-1' is not a valid stack size; expected bytes with an
/// optional K, M or G suffix between 16K and 1G, e.g. GREENSHIM_STACK_SIZE=512K`.
/// An unknown `GREENSHIM_*` variable is an error too. If a name occurs more than once, the
/// first occurrence wins (as with `getenv`), but every occurrence must be valid.
pub fn from_vars<I, K, V>(vars: I) -> Result<Settings, String>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut s = Settings::default();
    for (name, value) in vars {
        let (name, value) = (name.as_ref(), value.as_ref());
        if !name.starts_with(PREFIX) || LAUNCHER_ONLY.contains(&name) {
            continue;
        }
        match name {
            "GREENSHIM_STACK_SIZE" => {
                if value.is_empty() {
                    continue;
                }
                let n = parse_size(value).map_err(|form| {
                    format!(
                        "greenshim: {name}='{}' is not a valid stack size; {form}, e.g. {name}=512K",
                        printable(value)
                    )
                })?;
                s.stack_size.get_or_insert(n);
            }
            _ => return Err(unknown(name)),
        }
    }
    Ok(s)
}

/// The error line for an unknown `GREENSHIM_*` variable.
fn unknown(name: &str) -> String {
    let mut known = String::new();
    for (i, (k, _)) in KNOWN.iter().enumerate() {
        if i > 0 {
            known.push_str(", ");
        }
        known.push_str(k);
    }
    format!(
        "greenshim: unknown setting {}; known settings: {known} (unset it or fix its name)",
        printable(name)
    )
}

/// Parse a size: decimal bytes with an optional binary suffix `K`/`KiB`, `M`/`MiB`, `G`/`GiB`
/// (any case), e.g. `65536`, `64K`, `64k`, `64KiB`, `1M`, `1G`. The result is rounded up to a
/// multiple of 4096 and must lie within `STACK_SIZE_MIN..=STACK_SIZE_MAX`.
/// `Err` is the description of the accepted form.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let err = || SIZE_FORM.to_string();
    let digits_end = s.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(s.len());
    let (digits, suffix) = s.split_at(digits_end);
    if digits.is_empty() {
        return Err(err());
    }
    let unit: usize = match suffix.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        _ => return Err(err()),
    };
    // Too many digits to fit is simply too large.
    let n: usize = digits.parse().map_err(|_| err())?;
    let bytes = n.checked_mul(unit).ok_or_else(err)?;
    if !(STACK_SIZE_MIN..=STACK_SIZE_MAX).contains(&bytes) {
        return Err(err());
    }
    // STACK_SIZE_MAX is a multiple of PAGE, so rounding up cannot leave the range.
    Ok(bytes.div_ceil(PAGE) * PAGE)
}

/// A size in the shortest exact form `parse_size` accepts back: `256K`, `1M`, `12345`.
pub fn format_size(n: usize) -> String {
    if n != 0 && n.is_multiple_of(1 << 30) {
        format!("{}G", n >> 30)
    } else if n != 0 && n.is_multiple_of(1 << 20) {
        format!("{}M", n >> 20)
    } else if n != 0 && n.is_multiple_of(1 << 10) {
        format!("{}K", n >> 10)
    } else {
        n.to_string()
    }
}

/// A user-supplied value made safe for a one-line message: control characters escaped,
/// long values shortened.
fn printable(v: &str) -> String {
    const MAX: usize = 64;
    let mut out = String::new();
    for (i, c) in v.chars().enumerate() {
        if i == MAX {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: usize = 1024;
    const M: usize = 1024 * 1024;

    #[test]
    fn size_plain_bytes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("16384"), Ok(STACK_SIZE_MIN));
        assert_eq!(parse_size("1073741824"), Ok(STACK_SIZE_MAX));
        assert_eq!(parse_size("000065536"), Ok(65536));
    }

    #[test]
    fn size_suffixes_any_case() {
        for s in ["64K", "64k", "64KiB", "64kib", "64KIB", "64Kib"] {
            assert_eq!(parse_size(s), Ok(64 * K), "{s}");
        }
        for s in ["1M", "1m", "1MiB", "1mib"] {
            assert_eq!(parse_size(s), Ok(M), "{s}");
        }
        for s in ["1G", "1g", "1GiB", "1gib"] {
            assert_eq!(parse_size(s), Ok(STACK_SIZE_MAX), "{s}");
        }
        assert_eq!(parse_size("16K"), Ok(STACK_SIZE_MIN));
        assert_eq!(parse_size("1024M"), Ok(STACK_SIZE_MAX));
        assert_eq!(parse_size("1048576K"), Ok(STACK_SIZE_MAX));
        assert_eq!(parse_size("512K"), Ok(512 * K));
    }

    #[test]
    fn size_rounded_up_to_page() {
        assert_eq!(parse_size("16385"), Ok(20480));
        assert_eq!(parse_size("65535"), Ok(65536));
        assert_eq!(parse_size("65537"), Ok(65536 + 4096));
        assert_eq!(parse_size("17K"), Ok(20 * K));
        assert_eq!(parse_size("1073741823"), Ok(STACK_SIZE_MAX));
        for s in ["16385", "99999", "100K", "3M"] {
            assert_eq!(parse_size(s).unwrap() % 4096, 0, "{s}");
        }
    }

    #[test]
    fn size_rejected_forms() {
        for s in [
            "", " ", "K", "abc", "-1", "+64K", "64 K", " 64K", "64K ", "6 4K", "64KB", "64kb",
            "64B", "64Ki", "64KK", "64T", "1.5M", "0x1000", "1e6", "64K1", "1_000_000", "１２３",
        ] {
            assert_eq!(parse_size(s), Err(SIZE_FORM.to_string()), "{s:?}");
        }
    }

    #[test]
    fn size_out_of_range() {
        for s in [
            "0", "0K", "1", "4096", "16383", "15K", "1073741825", "1025M", "2G", "1048577K",
            "18446744073709551615", "18446744073709551616", "99999999999999999999999G",
            "17179869184G",
        ] {
            assert_eq!(parse_size(s), Err(SIZE_FORM.to_string()), "{s:?}");
        }
    }

    #[test]
    fn vars_none_set() {
        let none: [(&str, &str); 0] = [];
        assert_eq!(from_vars(none), Ok(Settings::default()));
        assert_eq!(Settings::default().effective_stack_size(), DEFAULT_STACK_SIZE);
        assert_eq!(
            from_vars([("PATH", "/bin"), ("HOME", "/root"), ("greenshim_stack_size", "x")]),
            Ok(Settings::default())
        );
    }

    #[test]
    fn vars_stack_size() {
        let s = from_vars([("PATH", "/bin"), ("GREENSHIM_STACK_SIZE", "512K")]).unwrap();
        assert_eq!(s.stack_size, Some(512 * K));
        assert_eq!(s.effective_stack_size(), 512 * K);
        // Owned strings work too (as from std::env::vars()).
        let owned = vec![("GREENSHIM_STACK_SIZE".to_string(), "65537".to_string())];
        assert_eq!(from_vars(owned).unwrap().stack_size, Some(69632));
    }

    #[test]
    fn vars_empty_value_is_unset() {
        assert_eq!(from_vars([("GREENSHIM_STACK_SIZE", "")]), Ok(Settings::default()));
    }

    #[test]
    fn vars_first_wins_but_all_checked() {
        let s = from_vars([("GREENSHIM_STACK_SIZE", "64K"), ("GREENSHIM_STACK_SIZE", "1M")]);
        assert_eq!(s.unwrap().stack_size, Some(64 * K));
        assert!(from_vars([("GREENSHIM_STACK_SIZE", "64K"), ("GREENSHIM_STACK_SIZE", "x")]).is_err());
    }

    #[test]
    fn vars_bad_value_message() {
        let e = from_vars([("GREENSHIM_STACK_SIZE", "-1")]).unwrap_err();
        assert_eq!(
            e,
            "greenshim: GREENSHIM_STACK_SIZE='-1' is not a valid stack size; expected bytes with \
             an optional K, M or G suffix between 16K and 1G, e.g. GREENSHIM_STACK_SIZE=512K"
        );
        for v in ["abc", "0", "2G", "64KB", " 1M"] {
            let e = from_vars([("GREENSHIM_STACK_SIZE", v)]).unwrap_err();
            assert!(e.starts_with("greenshim: GREENSHIM_STACK_SIZE='"), "{e}");
            assert!(e.contains(&format!("'{v}'")), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn vars_message_is_one_line() {
        let e = from_vars([("GREENSHIM_STACK_SIZE", "1\n2\r3\t")]).unwrap_err();
        assert!(!e.contains('\n') && !e.contains('\r'), "{e}");
        assert!(e.contains(r"'1\n2\r3\t'"), "{e}");
        let long = "9".repeat(500);
        let e = from_vars([("GREENSHIM_STACK_SIZE", long.as_str())]).unwrap_err();
        assert!(e.len() < 300, "{e}");
        let e = from_vars([("GREENSHIM_X\nY", "1")]).unwrap_err();
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn vars_unknown_rejected() {
        for name in ["GREENSHIM_STACKSIZE", "GREENSHIM_TRACE", "GREENSHIM_", "GREENSHIM_stack_size"] {
            let e = from_vars([(name, "1")]).unwrap_err();
            assert!(e.starts_with("greenshim: unknown setting "), "{e}");
            assert!(e.contains(name), "{e}");
            assert!(e.contains("GREENSHIM_STACK_SIZE"), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
        // Rejected even when empty: a misspelt name is never silently ignored.
        assert!(from_vars([("GREENSHIM_STAK_SIZE", "")]).is_err());
    }

    #[test]
    fn vars_launcher_only_ignored() {
        assert_eq!(from_vars([("GREENSHIM_LIB", "/x/libgreenshim.so")]), Ok(Settings::default()));
    }

    #[test]
    fn known_list_is_consistent() {
        for (name, desc) in KNOWN {
            assert!(name.starts_with(PREFIX));
            assert!(!desc.is_empty() && !desc.contains('\n'));
            assert!(!LAUNCHER_ONLY.contains(name));
            // Every known name is accepted by from_vars (with an empty value = unset).
            assert_eq!(from_vars([(*name, "")]), Ok(Settings::default()), "{name}");
        }
    }

    #[test]
    fn format_round_trips() {
        assert_eq!(format_size(DEFAULT_STACK_SIZE), "256K");
        assert_eq!(format_size(STACK_SIZE_MAX), "1G");
        assert_eq!(format_size(M), "1M");
        assert_eq!(format_size(69632), "68K");
        assert_eq!(format_size(12345), "12345");
        for n in [STACK_SIZE_MIN, DEFAULT_STACK_SIZE, 69632, 3 * M, STACK_SIZE_MAX] {
            assert_eq!(parse_size(&format_size(n)), Ok(n));
        }
    }
}
