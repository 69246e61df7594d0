//! Interleaved measurement: the cases a ratio compares take turns, a slice
//! of each at a time, so that they meet the same machine.
//!
//! Measured one after the other, two cases of a ratio met different
//! machines: on the 2-vCPU guest these benchmarks run on, the speed of
//! every round trip drifts by 30% or more over seconds (capbinder's 32 B
//! median moved between 13 and 19 us in back-to-back runs while the relay
//! measured just before it stayed put), and the ratio took the drift for a
//! difference between the mechanisms. Taking turns in short rounds
//! spreads any drift over every case alike.

use std::time::{Duration, Instant};

use super::stats::{self, Summary};

/// One case: `call(check)` makes one round trip; with `check` set (the
/// first warm-up call and a last call after timing) it also verifies the
/// answer in full.
pub type Case<'a, E> = Box<dyn FnMut(bool) -> Result<(), E> + 'a>;

/// How many rounds `iters` timed calls per case are split into: ten, or
/// fewer when there are fewer calls.
pub fn rounds_for(iters: usize) -> usize {
    iters.clamp(1, 10)
}

/// Rounds of about [`PAIRED_TURN`] calls per case, for a comparison of
/// tail percentiles. Host noise on this VM comes in bursts of
/// milliseconds; with ten rounds a burst lands on one case's turn (2 000
/// calls, about 200 ms with the client on another CPU), and one case's p99
/// jumped 3x while the other's, beside it, did not. In turns shorter than
/// a burst, a burst falls on every case alike. Medians do not need it, and
/// a large payload's working set is better warm for a whole turn, so the
/// other cases keep [`rounds_for`].
pub fn paired_rounds(iters: usize) -> usize {
    (iters / PAIRED_TURN).max(1)
}

/// Calls per case per turn in [`paired_rounds`].
pub const PAIRED_TURN: usize = 20;

/// Warms every case up (a tenth of `iters`, at least 2 calls), then runs
/// `rounds` rounds in which every case makes its share of `iters` timed
/// calls, after a few untimed ones (switching between cases leaves caches
/// cold, which is the interleaving's cost, not the case's). The case that
/// starts a round rotates, so that none always follows the same one.
/// Returns one summary per case, in order; an error comes with the index
/// of the case that failed.
pub fn measure<E>(
    cases: &mut [Case<'_, E>],
    iters: usize,
    rounds: usize,
) -> Result<Vec<Summary>, (usize, E)> {
    let n = cases.len();
    let rounds = rounds.clamp(1, iters.max(1));
    let warm = (iters / 10).max(2);
    for (i, case) in cases.iter_mut().enumerate() {
        for w in 0..warm {
            case(w == 0).map_err(|e| (i, e))?;
        }
    }
    let mut samples: Vec<Vec<u64>> = (0..n).map(|_| Vec::with_capacity(iters)).collect();
    let mut total = vec![Duration::ZERO; n];
    for round in 0..rounds {
        // The first `iters % rounds` rounds take one call more.
        let share = iters / rounds + usize::from(round < iters % rounds);
        let rewarm = (share / 20).clamp(1, 50);
        for k in 0..n {
            let i = (round + k) % n;
            let case = &mut cases[i];
            for _ in 0..rewarm {
                case(false).map_err(|e| (i, e))?;
            }
            let start = Instant::now();
            for _ in 0..share {
                let t0 = Instant::now();
                case(false).map_err(|e| (i, e))?;
                samples[i].push(t0.elapsed().as_nanos() as u64);
            }
            total[i] += start.elapsed();
        }
    }
    for (i, case) in cases.iter_mut().enumerate() {
        case(true).map_err(|e| (i, e))?;
    }
    Ok(samples
        .iter_mut()
        .zip(total)
        .map(|(s, t)| stats::summarize(s, t))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// A log of (case, check) per call.
    type Log = RefCell<Vec<(usize, bool)>>;

    fn logging(log: &Log, i: usize) -> Case<'_, String> {
        Box::new(move |check| {
            log.borrow_mut().push((i, check));
            Ok(())
        })
    }

    #[test]
    fn every_case_gets_its_iterations_and_is_checked_first_and_last() {
        let log = Log::default();
        let mut cases = vec![logging(&log, 0), logging(&log, 1), logging(&log, 2)];
        let sums = measure(&mut cases, 95, 10).unwrap();
        drop(cases);
        assert_eq!(sums.iter().map(|s| s.iters).collect::<Vec<_>>(), [95; 3]);
        let log = log.into_inner();
        for i in 0..3 {
            let checks: Vec<usize> = log
                .iter()
                .enumerate()
                .filter(|(_, &(c, check))| c == i && check)
                .map(|(k, _)| k)
                .collect();
            let calls: Vec<usize> = log
                .iter()
                .enumerate()
                .filter(|(_, &(c, _))| c == i)
                .map(|(k, _)| k)
                .collect();
            // checked on its first call and on its last
            assert_eq!(checks, [calls[0], *calls.last().unwrap()], "case {i}");
        }
    }

    #[test]
    fn cases_take_turns_and_the_first_of_a_round_rotates() {
        let log = Log::default();
        let mut cases = vec![logging(&log, 0), logging(&log, 1)];
        // 4 warm-up calls each, then 4 rounds of 1 re-warm + 10 timed
        measure(&mut cases, 40, 4).unwrap();
        drop(cases);
        let log = log.into_inner();
        let timed: Vec<usize> = log[8..log.len() - 2].iter().map(|&(c, _)| c).collect();
        let runs: Vec<(usize, usize)> = timed
            .chunk_by(|a, b| a == b)
            .map(|r| (r[0], r.len()))
            .collect();
        // round 0: 0 then 1; round 1: 1 then 0 (the two 1s meet); ...
        assert_eq!(runs, [(0, 11), (1, 22), (0, 22), (1, 22), (0, 11)]);
    }

    #[test]
    fn uneven_iterations_spread_over_rounds() {
        let log = Log::default();
        let mut cases = vec![logging(&log, 0)];
        let sums = measure(&mut cases, 7, rounds_for(7)).unwrap();
        assert_eq!(sums[0].iters, 7);
        assert_eq!(rounds_for(7), 7);
        assert_eq!(rounds_for(20_000), 10);
        assert_eq!(rounds_for(0), 1);
        assert_eq!(paired_rounds(20_000), 1_000);
        assert_eq!(paired_rounds(7), 1);
    }

    #[test]
    fn paired_rounds_alternate_cases_every_few_calls() {
        let log = Log::default();
        let mut cases = vec![logging(&log, 0), logging(&log, 1)];
        let iters = 100 * PAIRED_TURN;
        measure(&mut cases, iters, paired_rounds(iters)).unwrap();
        drop(cases);
        let log = log.into_inner();
        // After the warm-up (a tenth each) and before the two last checks,
        // no case runs more than two turns (its own, then the next
        // round's first) plus their re-warm calls in a row.
        let warm = 2 * (iters / 10);
        let timed: Vec<usize> = log[warm..log.len() - 2].iter().map(|&(c, _)| c).collect();
        let longest = timed.chunk_by(|a, b| a == b).map(|r| r.len()).max();
        assert_eq!(longest, Some(2 * (PAIRED_TURN + 1)));
    }

    #[test]
    fn a_failing_case_is_named_by_its_index() {
        let log = Log::default();
        let mut calls = 0;
        let mut cases: Vec<Case<'_, String>> = vec![
            logging(&log, 0),
            Box::new(move |_| {
                calls += 1;
                if calls == 5 {
                    Err("the echo came back wrong".to_string())
                } else {
                    Ok(())
                }
            }),
        ];
        let err = measure(&mut cases, 20, 2).unwrap_err();
        assert_eq!(err, (1, "the echo came back wrong".to_string()));
    }
}
