//! Typed values of the command line, parsed once by clap: durations in whole seconds and
//! the defaults every command shares. A default lives here (or, for the feature
//! computation, in `flowhound_features`) and nowhere else; help texts show it.

use std::fmt;
use std::str::FromStr;

use flowhound_features::{DEFAULT_HORIZON_SECS, DEFAULT_WINDOW_SECS};

/// A positive span of whole seconds, written like `90s`, `15m`, `1h`, `24h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Secs(pub u64);

/// The feature window of `extract`, `train` and a model-less `hunt`.
pub const DEFAULT_WINDOW: Secs = Secs(DEFAULT_WINDOW_SECS);
/// The pair horizon of `extract` and of the beaconing detector.
pub const DEFAULT_HORIZON: Secs = Secs(DEFAULT_HORIZON_SECS);

/// Whole seconds of a duration written like `90s`, `15m`, `1h` (0 allowed): the one
/// duration syntax of the command line and of the serve configuration.
pub fn whole_secs(text: &str) -> Result<u64, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("not a duration (e.g. 90s, 15m, 1h): {e}"))?;
    if d.subsec_nanos() != 0 {
        return Err("must be whole seconds".into());
    }
    Ok(d.as_secs())
}

impl FromStr for Secs {
    type Err = String;

    fn from_str(text: &str) -> Result<Secs, String> {
        match whole_secs(text)? {
            0 => Err("must be longer than 0 s".into()),
            secs => Ok(Secs(secs)),
        }
    }
}

/// The largest unit of h, m and s that writes it exactly: `24h`, `15m`, `90s`.
impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            s if s % 3600 == 0 => write!(f, "{}h", s / 3600),
            s if s % 60 == 0 => write!(f, "{}m", s / 60),
            s => write!(f, "{s}s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_to_whole_seconds_and_print_back() {
        assert_eq!("15m".parse::<Secs>(), Ok(Secs(900)));
        assert_eq!("1h 30m".parse::<Secs>(), Ok(Secs(5400)));
        assert_eq!("24h".parse::<Secs>(), Ok(Secs(86_400)));
        assert!("1.5s".parse::<Secs>().unwrap_err().contains("whole seconds"));
        assert!("0s".parse::<Secs>().unwrap_err().contains("longer than 0"));
        assert!("soon".parse::<Secs>().unwrap_err().contains("not a duration"));
        assert_eq!(whole_secs("0s"), Ok(0));
        assert!(whole_secs("250ms").unwrap_err().contains("whole seconds"));
        for (secs, text) in [(900, "15m"), (86_400, "24h"), (90, "90s"), (5400, "90m")] {
            assert_eq!(Secs(secs).to_string(), text);
            assert_eq!(text.parse::<Secs>(), Ok(Secs(secs)));
        }
        assert_eq!(DEFAULT_WINDOW.to_string(), "15m");
        assert_eq!(DEFAULT_HORIZON.to_string(), "24h");
    }
}
