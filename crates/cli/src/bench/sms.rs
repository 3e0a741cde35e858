//! `npchain sim sms`: short messages to recently ported numbers, routed by each sending
//! network's own routing copy, under npchain and under a central database whose operator
//! copies are synchronised periodically.
//!
//! How it is measured. The ports are real: they run on a devnet, and for each activation the
//! time from its submission until each node's ENUM server gives the new route is measured by
//! asking it (the window in which that sending network would still route to the donor). The
//! day is simulated, with a seeded random generator: each port's switch happens at a random
//! time of a day; messages to each ported number arrive at random (Poisson) over the
//! `window_hours` after its switch, each from a random sending network. A message is
//! misrouted when the sender's copy still names the donor:
//! - npchain: when it is sent within that sender's measured delay after the switch;
//! - central database synchronised every P: when the sender's copy has not been synchronised
//!   since the switch (each network syncs at its own random phase of P). The central database
//!   itself is assumed updated at the instant of the switch, which favours it.

use super::{BenchError, Env, Figures, activation_delays, figure, prepare_ports};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::time::Duration;

/// What the simulation is run with.
#[derive(Debug, Clone)]
pub struct SmsParams {
    /// Ports made on the devnet.
    pub ports: usize,
    /// Messages a day to each ported number.
    pub sms_per_day: f64,
    /// How long after its switch a number counts as recently ported, in hours.
    pub window_hours: f64,
    /// Synchronisation periods of the central database's copies, in seconds.
    pub sync_periods_s: Vec<f64>,
    pub seed: u64,
}

impl SmsParams {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ports": self.ports,
            "sms_per_day_per_ported_number": self.sms_per_day,
            "recently_ported_window_hours": self.window_hours,
            "central_sync_periods_s": self.sync_periods_s,
            "seed": self.seed,
        })
    }
}

const DAY_S: f64 = 86_400.0;

/// Runs the ports on a devnet, then the simulated day.
pub fn run(env: &Env, params: &SmsParams) -> Result<Figures, BenchError> {
    let net = super::start(env, "sms", None, Duration::from_secs(120))?;
    let ports = prepare_ports(&net, params.ports, 0)?;
    let delays_ms = activation_delays(&net, &ports)?;
    drop(net);
    Ok(simulate(&delays_ms, params))
}

/// The simulated day over measured per-port, per-sender switch delays (ms).
pub fn simulate(delays_ms: &[Vec<f64>], params: &SmsParams) -> Figures {
    let mut rng = StdRng::seed_from_u64(params.seed);
    let senders = delays_ms.first().map_or(1, Vec::len);
    let window_s = params.window_hours * 3600.0;
    let rate_per_s = params.sms_per_day / DAY_S;
    // Each sending network's synchronisation phase, per period.
    let phases: Vec<Vec<f64>> = params
        .sync_periods_s
        .iter()
        .map(|p| (0..senders).map(|_| rng.random::<f64>() * p).collect())
        .collect();
    let mut sent = 0u64;
    let mut misrouted_npchain = 0u64;
    let mut misrouted_central = vec![0u64; params.sync_periods_s.len()];
    let mut expected_npchain = 0.0;
    for delays in delays_ms {
        let switch = rng.random::<f64>() * DAY_S;
        expected_npchain += delays.iter().map(|d| d / 1e3 * rate_per_s / senders as f64).sum::<f64>();
        let mut t = switch;
        loop {
            t += -(1.0 - rng.random::<f64>()).ln() / rate_per_s;
            if t >= switch + window_s {
                break;
            }
            sent += 1;
            let sender = rng.random_range(0..senders);
            if (t - switch) * 1e3 < delays[sender] {
                misrouted_npchain += 1;
            }
            for (i, period) in params.sync_periods_s.iter().enumerate() {
                let phase = phases[i][sender];
                // The first synchronisation of this sender at or after the switch.
                let next_sync = phase + ((switch - phase) / period).ceil() * period;
                if t < next_sync {
                    misrouted_central[i] += 1;
                }
            }
        }
    }
    let success =
        |misrouted: u64| if sent == 0 { 100.0 } else { 100.0 * (sent - misrouted) as f64 / sent as f64 };
    let mut figures = Figures::new();
    figure(&mut figures, "ports (run on the devnet)", delays_ms.len() as f64, "ports");
    figure(&mut figures, "SMS sent to recently ported numbers", sent as f64, "SMS");
    figure(&mut figures, "npchain: misrouted", misrouted_npchain as f64, "SMS");
    figure(&mut figures, "npchain: expected misrouted (rate × measured windows)", expected_npchain, "SMS");
    figure(
        &mut figures,
        "npchain: expected misrouted per million SMS",
        if sent == 0 { 0.0 } else { expected_npchain / sent as f64 * 1e6 },
        "SMS",
    );
    figure(&mut figures, "npchain: success rate", success(misrouted_npchain), "%");
    for (i, period) in params.sync_periods_s.iter().enumerate() {
        let name = period_name(*period);
        figure(
            &mut figures,
            format!("central DB, copies synced every {name}: misrouted"),
            misrouted_central[i] as f64,
            "SMS",
        );
        figure(
            &mut figures,
            format!("central DB, copies synced every {name}: success rate"),
            success(misrouted_central[i]),
            "%",
        );
    }
    figures
}

fn period_name(seconds: f64) -> String {
    if seconds >= 3600.0 && seconds % 3600.0 == 0.0 {
        format!("{} h", seconds / 3600.0)
    } else if seconds >= 60.0 {
        format!("{} min", seconds / 60.0)
    } else {
        format!("{seconds} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(sms_per_day: f64) -> SmsParams {
        SmsParams { ports: 0, sms_per_day, window_hours: 48.0, sync_periods_s: vec![900.0, DAY_S], seed: 7 }
    }

    fn value(figures: &Figures, name: &str) -> f64 {
        figures.iter().find(|f| f.0 == name).map(|f| f.1).unwrap_or_else(|| panic!("no {name}"))
    }

    #[test]
    fn the_model_counts_what_each_copy_gets_wrong() {
        // 1,000 ports whose new route reached every sender after 400 ms.
        let delays = vec![vec![400.0; 4]; 1_000];
        let f = simulate(&delays, &params(200.0));
        let sent = value(&f, "SMS sent to recently ported numbers");
        // 1,000 numbers × 200 a day × 2 days, give or take the Poisson noise.
        assert!((380_000.0..420_000.0).contains(&sent), "{sent}");
        let fifteen = value(&f, "central DB, copies synced every 15 min: misrouted");
        let daily = value(&f, "central DB, copies synced every 24 h: misrouted");
        // A 15-minute copy is stale for 7.5 min on average of the 48 h window: ~0.26 %.
        assert!((0.001..0.005).contains(&(fifteen / sent)), "{fifteen} of {sent}");
        // A daily copy is stale for 12 h on average: ~25 %.
        assert!((0.2..0.3).contains(&(daily / sent)), "{daily} of {sent}");
        // 400 ms: about 1,000 × 200/day × 0.4 s ≈ 0.9 expected.
        let expected = value(&f, "npchain: expected misrouted (rate × measured windows)");
        assert!((0.8..1.0).contains(&expected), "{expected}");
        assert!(value(&f, "npchain: misrouted") <= 10.0);
        // Same seed, same day.
        assert_eq!(simulate(&delays, &params(200.0)), f);
    }

    #[test]
    fn a_copy_that_never_lags_misroutes_nothing() {
        let f = simulate(&vec![vec![0.0; 4]; 50], &params(20.0));
        assert_eq!(value(&f, "npchain: misrouted"), 0.0);
        assert_eq!(value(&f, "npchain: success rate"), 100.0);
    }
}
