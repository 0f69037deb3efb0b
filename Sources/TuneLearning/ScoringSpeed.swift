import Foundation
import TuneCore

/// How fast a cost model scores candidates on one thread: what the search pays for every
/// pool it ranks. Features and the ranker are timed apart, over pools of random schedules
/// of real tasks, as the search asks for them (one task and device per call).
public struct ScoringSpeed: Sendable, Codable {
    public var candidates = 0
    public var featureSeconds = 0.0
    public var rankerSeconds = 0.0
    public var candidatesPerSecond: Double { Double(candidates) / max(1e-9, featureSeconds + rankerSeconds) }
    public var featuresPerSecond: Double { Double(candidates) / max(1e-9, featureSeconds) }
    public var rankerRowsPerSecond: Double { Double(candidates) / max(1e-9, rankerSeconds) }

    /// Scores `rounds` pools of `pool` schedules for each task (its space on `device`); the
    /// schedules are drawn before the clock starts.
    public static func measure(_ model: LearnedCostModel, tasks: [TaskSpec], device: DeviceProfile, threads: Int,
                               spaceFor: (TaskSpec) -> (any ScheduleSpace)?, pool: Int, rounds: Int) -> ScoringSpeed {
        var out = ScoringSpeed()
        var rng = SplitMix64(seed: 1)
        for task in tasks {
            guard let space = spaceFor(task) else { continue }
            let schedules = (0..<pool).compactMap { _ in space.sample(using: &rng, attempts: 1000) }
            guard !schedules.isEmpty else { continue }
            for _ in 0..<rounds {
                let t0 = Date()
                let features = model.extractor.features(task: task, device: device, threads: threads, schedules: schedules)
                let t1 = Date()
                let scores = model.ranker.score(features: features, rows: schedules.count)
                let t2 = Date()
                precondition(scores.count == schedules.count)
                out.featureSeconds += t1.timeIntervalSince(t0)
                out.rankerSeconds += t2.timeIntervalSince(t1)
                out.candidates += schedules.count
            }
        }
        return out
    }
}
