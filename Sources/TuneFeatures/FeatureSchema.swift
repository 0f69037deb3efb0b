import TuneCore

public enum FeatureGroup: String, Sendable, Codable, CaseIterable { case task, schedule, hardware }

/// The names, groups and meanings of a feature vector's slots. A model records the schema
/// it was trained with; changing a name or the order is a new version, and a model of
/// another schema is refused.
public struct FeatureSchema: Hashable, Sendable {
    public struct Feature: Hashable, Sendable {
        public var name: String
        public var group: FeatureGroup
        public var meaning: String
    }
    public let version: Int
    public let features: [Feature]
    public var names: [String] { features.map(\.name) }
    public var count: Int { features.count }
    /// A digest of the names in order: what a stored model is checked against.
    public var digest: String { FNV1a.hex("v\(version)|" + names.joined(separator: ",")) }
    public func range(of group: FeatureGroup) -> Range<Int> {
        let idx = features.indices.filter { features[$0].group == group }
        return (idx.first ?? 0)..<((idx.last ?? -1) + 1)
    }

    /// The schema as a Markdown table (docs/FEATURES.md is this, generated).
    public var markdown: String {
        var out = "| # | feature | group | meaning and unit |\n|---|---|---|---|\n"
        for (i, f) in features.enumerated() { out += "| \(i) | `\(f.name)` | \(f.group.rawValue) | \(f.meaning) |\n" }
        return out
    }
}

/// Turns (task, schedule, device, threads) into the model's input.
public protocol FeatureExtractor: Sendable {
    var schema: FeatureSchema { get }
    /// Row-major `schedules.count x schema.count` features; the task and hardware parts
    /// are computed once. Every value is finite; what does not apply is 0.
    func features(task: TaskSpec, device: DeviceProfile, threads: Int, schedules: [Schedule]) -> [Float]
}
