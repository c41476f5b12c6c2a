//! Configuration of the endpointing server: a preset wait function, optional overrides, and the answer given
//! when a request carries no user message.
//!
//! The struct is plain data, read once at the edge (the server's `[endpointing]` TOML table) and checked with
//! [`EndpointingConfig::validate`] before the port is bound. Nothing here reads the environment.

use serde::Deserialize;

use crate::EndpointingError;

/// The largest timeout Vapi accepts (`timeoutSeconds` is documented as 0 to 15).
pub const MAX_TIMEOUT_SECONDS: f64 = 15.0;

/// A named wait function: how eagerly the assistant takes its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Answers quickly; accepts a few more cut-offs (short maximum, late rise).
    Fast,
    /// The default: near-immediate on clearly complete turns, a long wait on clearly unfinished ones.
    #[default]
    Balanced,
    /// Waits longer everywhere; for callers who pause a lot (elderly callers, dictation-heavy flows).
    Patient,
}

/// The resolved wait function: maps P(the user is still speaking) to a timeout in seconds.
///
/// `timeout = min + (max - min) * s(x)`, where `s` is a logistic curve rescaled so that `s(0) = 0` and
/// `s(1) = 1`, centred on `midpoint` with slope `steepness`. A caller who asked for time ("hold on, let me
/// check") gets at least `hold_seconds`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaitFunction {
    /// Timeout when the turn is surely complete.
    pub min_seconds: f64,
    /// Timeout when the turn is surely unfinished.
    pub max_seconds: f64,
    /// P(still speaking) at which the timeout is halfway between `min_seconds` and `max_seconds`.
    pub midpoint: f64,
    /// Slope of the curve around `midpoint` (larger is closer to a step).
    pub steepness: f64,
    /// Timeout floor when the caller asked for time.
    pub hold_seconds: f64,
}

impl WaitFunction {
    /// The wait function of a preset.
    pub const fn of(preset: Preset) -> Self {
        match preset {
            Preset::Fast => Self {
                min_seconds: 0.0,
                max_seconds: 1.6,
                midpoint: 0.55,
                steepness: 10.0,
                hold_seconds: 4.0,
            },
            Preset::Balanced => Self {
                min_seconds: 0.05,
                max_seconds: 2.5,
                midpoint: 0.45,
                steepness: 10.0,
                hold_seconds: 6.0,
            },
            Preset::Patient => Self {
                min_seconds: 0.2,
                max_seconds: 4.0,
                midpoint: 0.35,
                steepness: 8.0,
                hold_seconds: 10.0,
            },
        }
    }

    /// The timeout for a probability that the user is still speaking, clamped to `[0, 15]`.
    ///
    /// Any non-finite input or parameter yields a finite answer inside the range.
    pub fn timeout(&self, still_speaking: f64) -> f64 {
        let x = if still_speaking.is_finite() {
            still_speaking.clamp(0.0, 1.0)
        } else {
            1.0
        };
        let logistic = |v: f64| 1.0 / (1.0 + (-self.steepness * (v - self.midpoint)).exp());
        let (low, high) = (logistic(0.0), logistic(1.0));
        let shape = if high - low > f64::EPSILON {
            (logistic(x) - low) / (high - low)
        } else {
            x
        };
        clamp_timeout(self.min_seconds + (self.max_seconds - self.min_seconds) * shape)
    }
}

/// Clamps a timeout to Vapi's accepted range `[0, 15]`. NaN becomes the maximum: answering 0 could cut an
/// unfinished turn off, and waiting too long is the safer failure.
pub fn clamp_timeout(seconds: f64) -> f64 {
    if seconds.is_nan() {
        MAX_TIMEOUT_SECONDS
    } else {
        seconds.clamp(0.0, MAX_TIMEOUT_SECONDS)
    }
}

/// Settings of the endpointing server, embedded as the `[endpointing]` table of the server's TOML config.
///
/// Every field is optional in TOML. `preset` picks a wait function; the `*_seconds`, `midpoint` and
/// `steepness` fields override single parameters of it.
///
/// ```toml
/// [endpointing]
/// preset = "balanced"
/// max_timeout_seconds = 3.0
/// no_user_message_timeout_seconds = 1.0
/// model = true
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointingConfig {
    /// The base wait function.
    pub preset: Preset,
    /// Overrides the preset's timeout for a surely complete turn.
    pub min_timeout_seconds: Option<f64>,
    /// Overrides the preset's timeout for a surely unfinished turn.
    pub max_timeout_seconds: Option<f64>,
    /// Overrides the preset's timeout floor when the caller asked for time.
    pub hold_timeout_seconds: Option<f64>,
    /// Overrides the preset's curve midpoint (P(still speaking), 0 to 1).
    pub midpoint: Option<f64>,
    /// Overrides the preset's curve steepness (greater than 0).
    pub steepness: Option<f64>,
    /// The answer when a request carries no user message (for example right after the greeting).
    pub no_user_message_timeout_seconds: f64,
    /// Blend the learned end-of-turn model into English decisions (`true` by default); `false` keeps the
    /// word-list cues alone.
    pub model: bool,
}

impl Default for EndpointingConfig {
    fn default() -> Self {
        Self {
            preset: Preset::Balanced,
            min_timeout_seconds: None,
            max_timeout_seconds: None,
            hold_timeout_seconds: None,
            midpoint: None,
            steepness: None,
            no_user_message_timeout_seconds: 1.0,
            model: true,
        }
    }
}

impl EndpointingConfig {
    /// The configuration of a preset with no overrides.
    pub fn preset(preset: Preset) -> Self {
        Self {
            preset,
            ..Self::default()
        }
    }

    /// The wait function: the preset with this config's overrides applied.
    pub fn wait_function(&self) -> WaitFunction {
        let base = WaitFunction::of(self.preset);
        WaitFunction {
            min_seconds: self.min_timeout_seconds.unwrap_or(base.min_seconds),
            max_seconds: self.max_timeout_seconds.unwrap_or(base.max_seconds),
            midpoint: self.midpoint.unwrap_or(base.midpoint),
            steepness: self.steepness.unwrap_or(base.steepness),
            hold_seconds: self.hold_timeout_seconds.unwrap_or(base.hold_seconds),
        }
    }

    /// Checks the settings at startup: every timeout within `[0, 15]`, min ≤ max, midpoint within `[0, 1]`,
    /// steepness positive, all finite.
    pub fn validate(&self) -> Result<(), EndpointingError> {
        let wait = self.wait_function();
        let seconds = [
            ("min_timeout_seconds", wait.min_seconds),
            ("max_timeout_seconds", wait.max_seconds),
            ("hold_timeout_seconds", wait.hold_seconds),
            ("no_user_message_timeout_seconds", self.no_user_message_timeout_seconds),
        ];
        for (name, value) in seconds {
            if !(0.0..=MAX_TIMEOUT_SECONDS).contains(&value) {
                return Err(EndpointingError::Config(format!(
                    "{name} is {value}, expected a number of seconds from 0 to 15"
                )));
            }
        }
        if wait.min_seconds > wait.max_seconds {
            return Err(EndpointingError::Config(format!(
                "min_timeout_seconds ({}) is greater than max_timeout_seconds ({}), expected min <= max",
                wait.min_seconds, wait.max_seconds
            )));
        }
        if !(0.0..=1.0).contains(&wait.midpoint) {
            return Err(EndpointingError::Config(format!(
                "midpoint is {}, expected a probability from 0 to 1",
                wait.midpoint
            )));
        }
        if !(wait.steepness.is_finite() && wait.steepness > 0.0) {
            return Err(EndpointingError::Config(format!(
                "steepness is {}, expected a finite number greater than 0",
                wait.steepness
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_validates_and_is_monotonic() {
        for preset in [Preset::Fast, Preset::Balanced, Preset::Patient] {
            let config = EndpointingConfig::preset(preset);
            config.validate().unwrap();
            let wait = config.wait_function();
            assert!((wait.timeout(0.0) - wait.min_seconds).abs() < 1e-9);
            assert!((wait.timeout(1.0) - wait.max_seconds).abs() < 1e-9);
            let mut previous = 0.0;
            for step in 0..=100 {
                let t = wait.timeout(f64::from(step) / 100.0);
                assert!(t >= previous, "{preset:?} not monotonic at {step}");
                previous = t;
            }
        }
    }

    #[test]
    fn validate_rejects_bad_settings() {
        let bad = [
            EndpointingConfig {
                min_timeout_seconds: Some(3.0),
                max_timeout_seconds: Some(1.0),
                ..Default::default()
            },
            EndpointingConfig {
                max_timeout_seconds: Some(16.0),
                ..Default::default()
            },
            EndpointingConfig {
                min_timeout_seconds: Some(-0.1),
                ..Default::default()
            },
            EndpointingConfig {
                hold_timeout_seconds: Some(f64::NAN),
                ..Default::default()
            },
            EndpointingConfig {
                no_user_message_timeout_seconds: 20.0,
                ..Default::default()
            },
            EndpointingConfig {
                midpoint: Some(1.5),
                ..Default::default()
            },
            EndpointingConfig {
                steepness: Some(0.0),
                ..Default::default()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?} should be rejected");
        }
    }

    #[test]
    fn deserializes_from_toml_like_json_with_defaults() {
        let config: EndpointingConfig =
            serde_json::from_str(r#"{"preset": "patient", "max_timeout_seconds": 5}"#).unwrap();
        assert_eq!(config.preset, Preset::Patient);
        assert_eq!(config.wait_function().max_seconds, 5.0);
        assert_eq!(config.no_user_message_timeout_seconds, 1.0);
        assert!(serde_json::from_str::<EndpointingConfig>(r#"{"presett": "fast"}"#).is_err());
    }

    #[test]
    fn degenerate_inputs_stay_in_range() {
        let wait = WaitFunction {
            steepness: 1e-300,
            ..WaitFunction::of(Preset::Balanced)
        };
        for x in [f64::NAN, f64::INFINITY, -1.0, 0.5, 2.0] {
            let t = wait.timeout(x);
            assert!((0.0..=15.0).contains(&t), "{x} -> {t}");
        }
        assert_eq!(clamp_timeout(f64::NAN), 15.0);
        assert_eq!(clamp_timeout(-3.0), 0.0);
        assert_eq!(clamp_timeout(99.0), 15.0);
    }
}
