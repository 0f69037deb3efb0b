import TuneCore

/// A (task, device) group: labels and rankings mean something only inside one.
public struct GroupKey: Hashable, Sendable, Comparable {
    public var task: TaskSpec
    public var device: String
    public init(task: TaskSpec, device: String) { self.task = task; self.device = device }
    public static func < (a: GroupKey, b: GroupKey) -> Bool { (a.task.name, a.device) < (b.task.name, b.device) }
}

/// A verified record with its label: the normalized throughput within its group,
/// `best latency of the group / latency of the record`, in (0, 1].
public struct LabeledRecord: Hashable, Sendable {
    public var record: TuningRecord
    public var label: Double
    public var group: GroupKey { GroupKey(task: record.task, device: record.device) }
}

/// What a dataset holds, failures included: they are data, counted, but not trained on.
public struct DatasetSummary: Hashable, Sendable, Codable {
    public var records = 0
    public var ok = 0
    public var byStatus: [String: Int] = [:]
    public var groups = 0
    public var tasks = 0
    public var devices = 0
}

public enum Labels {
    /// Labels every `ok` record by its group's best time (MODEL-METRICS.md); failures and
    /// records without a positive finite time get no label.
    public static func label(_ records: [TuningRecord]) -> [LabeledRecord] {
        var best: [GroupKey: Double] = [:]
        for r in records {
            guard let s = r.okSeconds, s.isFinite, s > 0 else { continue }
            let g = GroupKey(task: r.task, device: r.device)
            best[g] = min(best[g] ?? s, s)
        }
        return records.compactMap { r in
            guard let s = r.okSeconds, s.isFinite, s > 0, let b = best[GroupKey(task: r.task, device: r.device)] else { return nil }
            return LabeledRecord(record: r, label: b / s)
        }
    }

    public static func summary(_ records: [TuningRecord]) -> DatasetSummary {
        var s = DatasetSummary()
        s.records = records.count
        for r in records { s.byStatus[r.status.rawValue, default: 0] += 1 }
        s.ok = s.byStatus[MeasureStatus.ok.rawValue] ?? 0
        s.groups = Set(records.map { GroupKey(task: $0.task, device: $0.device) }).count
        s.tasks = Set(records.map(\.task)).count
        s.devices = Set(records.map(\.device)).count
        return s
    }
}
