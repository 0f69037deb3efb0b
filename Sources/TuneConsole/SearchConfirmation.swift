import TuneCore
import TuneStore

/// The confirmation pass of `bench search`: the runs of a benchmark are minutes apart, and a
/// machine's speed drifts over minutes (this VM's large matmuls ran 10% slower one hour than
/// the day before, the same schedules), so curves timed at different moments are not side by
/// side. The schedules that moved each run's curve near its end (the last few that improved
/// each task's best) are timed again, every run's interleaved, in one campaign, and each run's
/// curve is replayed with those timings. Pure: rows in, schedules and curves out.
public enum SearchConfirmation {
    /// A schedule of a task, as two runs' records compare.
    public struct Key: Hashable, Sendable {
        public var task: String
        public var schedule: Schedule
        public init(task: String, schedule: Schedule) { self.task = task; self.schedule = schedule }
    }

    /// A verified row of `deviceClass`: its key and time; nil for anything else.
    static func timed(_ r: ExportRow, deviceClass: String) -> (key: Key, seconds: Double)? {
        guard r.deviceClass == deviceClass, r.status == MeasureStatus.ok.rawValue, let s = r.medianSeconds,
              let schedule = try? Schedule(encoding: r.schedule) else { return nil }
        return (Key(task: r.task, schedule: schedule), s)
    }

    /// One run's verified results of `deviceClass` in commit order that improved their task's
    /// best, the last `perTask` of each task (the earlier ones are far from the best, where a
    /// few percent of drift moves no crossing of the 5% line).
    public static func recordSetters(_ rows: [ExportRow], deviceClass: String, perTask: Int) -> [Key] {
        guard perTask > 0 else { return [] }
        var best: [String: Double] = [:]
        var setters: [String: [Key]] = [:]
        var order: [String] = []
        for (key, s) in rows.compactMap({ timed($0, deviceClass: deviceClass) }) where s > 0 && s < (best[key.task] ?? .infinity) {
            best[key.task] = s
            if setters[key.task] == nil { order.append(key.task) }
            setters[key.task, default: []].append(key)
        }
        return order.flatMap { setters[$0]!.suffix(perTask) }
    }

    /// The schedules to time again, by task: the runs' record setters taken in turns (the
    /// first of each run, then the second, ...), each once, so a drift during the pass falls
    /// on every run alike.
    public static func interleave(_ runs: [[Key]]) -> [String: [Schedule]] {
        var byTask: [String: [[Key]]] = [:]
        for run in runs {
            for (task, keys) in Dictionary(grouping: run, by: \.task) { byTask[task, default: []].append(keys) }
        }
        var out: [String: [Schedule]] = [:]
        for (task, lists) in byTask {
            var seen = Set<Schedule>(), list: [Schedule] = []
            for i in 0..<(lists.map(\.count).max() ?? 0) {
                for l in lists where i < l.count && seen.insert(l[i].schedule).inserted { list.append(l[i].schedule) }
            }
            out[task] = list
        }
        return out
    }

    /// The confirmation campaign's verified times, by key.
    public static func timings(_ rows: [ExportRow], deviceClass: String) -> [Key: Double] {
        var out: [Key: Double] = [:]
        for (key, s) in rows.compactMap({ timed($0, deviceClass: deviceClass) }) { out[key] = s }
        return out
    }

    /// A run's results replayed with the confirmed timings: a task's results count as measured
    /// until its first confirmed schedule; from there on only its confirmed schedules count, at
    /// their confirmed times (a result timed in the run is not compared with one timed in the
    /// pass). Failures and unconfirmed results still cost their trial.
    public static func results(_ rows: [ExportRow], deviceClass: String, campaignStart: Double, confirmed: [Key: Double]) -> [TuningCurve.Result] {
        var switched = Set<String>()
        return rows.filter { $0.deviceClass == deviceClass }.map { r in
            var seconds = r.status == MeasureStatus.ok.rawValue ? r.medianSeconds : nil
            if seconds != nil {
                let again = timed(r, deviceClass: deviceClass).flatMap { confirmed[$0.key] }
                if let again { switched.insert(r.task); seconds = again } else if switched.contains(r.task) { seconds = nil }
            }
            return TuningCurve.Result(task: r.task, seconds: seconds, elapsed: max(0, r.createdAt - campaignStart))
        }
    }

    /// How the pass's times compare with the runs' own for the same schedules: pairs and the
    /// median relative difference (the drift and noise the pass takes out).
    public static func drift(runs: [[ExportRow]], deviceClass: String, confirmed: [Key: Double]) -> (pairs: Int, medianDifference: Double) {
        let diffs = runs.joined().compactMap { r in
            timed(r, deviceClass: deviceClass).flatMap { t in confirmed[t.key].map { ($0 - t.seconds) / t.seconds } }
        }
        return (diffs.count, SearchBench.median(diffs) ?? 0)
    }
}

extension SearchConfirmation {
    /// A run's tuning curve of `deviceClass` replayed with the confirmed timings.
    public static func points(_ rows: [ExportRow], campaign: CampaignSummary, deviceClass: String, confirmed: [Key: Double]) -> [CurvePoint] {
        points(rows, weights: campaign.weights(deviceClass: deviceClass), campaignStart: campaign.createdAt, deviceClass: deviceClass, confirmed: confirmed)
    }

    /// The same with the network's task weights given.
    public static func points(_ rows: [ExportRow], weights: [String: Int], campaignStart: Double, deviceClass: String,
                              confirmed: [Key: Double]) -> [CurvePoint] {
        TuningCurve.points(results(rows, deviceClass: deviceClass, campaignStart: campaignStart, confirmed: confirmed),
                           network: NetworkLatency(weights: weights))
    }
}

extension CampaignSummary {
    /// Occurrences of each task (by name) of `deviceClass` in the campaign's network.
    func weights(deviceClass: String) -> [String: Int] {
        var weights: [String: Int] = [:]
        for t in tasks where t.deviceClass == deviceClass { weights[t.name, default: 0] += t.weight }
        return weights
    }
}
