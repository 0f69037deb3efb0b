import Foundation
import TuneCore

/// A measured schedule another task or device found good, with the device it ran on.
public struct TransferSource: Sendable {
    public var record: TuningRecord
    public var profile: DeviceProfile
    public init(record: TuningRecord, profile: DeviceProfile) { self.record = record; self.profile = profile }
}

/// Transfer-tuning of schedules: a task nobody measured on a device starts from the best
/// schedules of the most similar tuned tasks (same operator, nearby shapes) and of the same
/// task on the most similar devices, translated into the device's own space. Pure.
public enum TransferTuning {
    /// How far two tasks of one operator are apart: summed |log2| differences of their
    /// shape parameters; another operator is infinitely far.
    public static func taskDistance(_ a: TaskSpec, _ b: TaskSpec) -> Double {
        guard a.op == b.op else { return .infinity }
        let bv = Dictionary(b.params.map { ($0.name, $0.value) }, uniquingKeysWith: { x, _ in x })
        return a.params.reduce(0) { sum, p in sum + abs(log2(Double(max(0, p.value)) + 1) - log2(Double(max(0, bv[p.name] ?? 0)) + 1)) }
    }

    /// How far two devices are apart: summed |log2| differences of what shapes a schedule's
    /// fit (vector width, caches, shared memory, cores or SMs, peak rate, bandwidth).
    public static func deviceDistance(_ a: DeviceProfile, _ b: DeviceProfile) -> Double {
        guard a.deviceClass == b.deviceClass else { return .infinity }
        if a.fingerprint == b.fingerprint { return 0 }
        func l(_ x: Double) -> Double { log2(max(0, x) + 1) }
        let pairs: [(Double, Double)] = [
            (Double(a.vectorBits), Double(b.vectorBits)), (Double(a.l1dBytes), Double(b.l1dBytes)), (Double(a.l2Bytes), Double(b.l2Bytes)),
            (Double(a.l3Bytes), Double(b.l3Bytes)), (Double(a.cores), Double(b.cores)), (a.peakGFLOPS, b.peakGFLOPS),
            (Double(a.smCount), Double(b.smCount)), (Double(a.sharedMemPerBlockOptin), Double(b.sharedMemPerBlockOptin)),
            (a.memoryBandwidthGBs, b.memoryBandwidthGBs),
        ]
        return pairs.reduce(0) { $0 + abs(l($1.0) - l($1.1)) }
    }

    /// What sources are grouped by: a task on a device at a thread count.
    struct Group: Hashable {
        var task: TaskSpec, device: String, threads: Int
        init(_ r: TuningRecord) { task = r.task; device = r.device; threads = r.threads }
        /// The stable order among groups at the same distance.
        static func before(_ a: Group, _ b: Group) -> Bool { (a.task.name, a.device, a.threads) < (b.task.name, b.device, b.threads) }
    }

    /// Verified sources by group, each group fastest first (ties by job and candidate), a
    /// schedule once per group (the database's copy of a shipped record is not a second one).
    static func fastestByGroup(_ sources: [TransferSource]) -> [Group: [TransferSource]] {
        Dictionary(grouping: sources.filter { $0.record.okSeconds != nil }, by: { Group($0.record) }).mapValues { members in
            var seen = Set<String>()
            return members.sorted { a, b in
                (a.record.okSeconds!, a.record.jobID, a.record.candidateID) < (b.record.okSeconds!, b.record.jobID, b.record.candidateID)
            }.filter { seen.insert($0.record.schedule.hash64).inserted }
        }
    }

    /// Sources from stored records: the fastest `perGroup` verified records of each
    /// (task, device, threads) group whose device profile is known, in a stable order.
    public static func sources(_ records: [TuningRecord], profiles: [String: DeviceProfile], perGroup: Int = 2) -> [TransferSource] {
        let groups = fastestByGroup(records.compactMap { r in profiles[r.device].map { TransferSource(record: r, profile: $0) } })
        return groups.keys.sorted(by: Group.before).flatMap { groups[$0]!.prefix(perGroup) }
    }

    /// The sources most similar to (task, device, threads) first: each (task, device,
    /// threads) group's fastest `perGroup` schedules, groups ordered by task distance plus
    /// device distance plus the |log2| difference of their thread counts (the same task on
    /// the same device, tuned by an earlier campaign, comes first of all).
    public static func rank(_ sources: [TransferSource], task: TaskSpec, device: DeviceProfile, threads: Int? = nil, perGroup: Int = 2) -> [TransferSource] {
        let ranked = fastestByGroup(sources).compactMap { key, members -> (Double, Group, ArraySlice<TransferSource>)? in
            let t = threads.map { abs(log2(Double(max(1, $0))) - log2(Double(max(1, key.threads)))) } ?? 0
            let d = taskDistance(task, key.task) + deviceDistance(device, members[0].profile) + t
            guard d.isFinite else { return nil }
            return (d, key, members.prefix(perGroup))
        }
        return ranked.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : Group.before($0.1, $1.1) }.flatMap(\.2)
    }

    /// `schedule` in `space`: knobs the space does not have dropped, each value snapped to the
    /// nearest choice of its domain (by ratio, so 48 becomes 32 or 64, not 1), knobs it lacks
    /// from the space's defaults; nil when the result breaks the space's constraints.
    public static func translate(_ schedule: Schedule, to space: any ScheduleSpace) -> Schedule? {
        var values: [String: Int] = [:]
        for d in space.knobs {
            guard !d.choices.isEmpty else { return nil }
            guard let v = schedule[d.name] ?? d.absentMeans else { values[d.name] = d.choices[0]; continue }
            values[d.name] = d.choices.min { nearness(v, $0) < nearness(v, $1) }
        }
        let s = Schedule(values)
        return space.isValid(s) ? s : nil
    }

    static func nearness(_ a: Int, _ b: Int) -> (Double, Int) {
        if a == b { return (0, b) }
        if a > 0 && b > 0 { return (abs(log2(Double(a)) - log2(Double(b))), b) }
        return (Double(abs(a - b)) + 64, b)
    }

    /// Up to `limit` translated schedules for the context's task and device, most similar
    /// source first, each valid and new to the job, none twice.
    public static func proposals(_ sources: [TransferSource], context: SearchContext, limit: Int, perGroup: Int = 2) -> [Schedule] {
        guard limit > 0 else { return [] }
        var out: [Schedule] = [], seen = Set<String>()
        for src in rank(sources, task: context.task, device: context.device, threads: context.threads, perGroup: perGroup) {
            guard let s = translate(src.record.schedule, to: context.space), context.isNew(s), seen.insert(s.hash64).inserted else { continue }
            out.append(s)
            if out.count == limit { break }
        }
        return out
    }
}
