import TuneCore

/// How records are split into training and test sets (MODEL-METRICS.md).
public enum SplitKind: String, Sendable, CaseIterable, Codable {
    /// Records of every group at random, 90 / 10.
    case withinTask = "within_task"
    /// Whole tasks held out: every task of the held-out networks.
    case byTask = "by_task"
    /// Whole devices held out.
    case byTarget = "by_target"
}

public struct SplitError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable { case unknownHoldout, emptySide, noHoldout }
    public var code: Code
    public var message: String
    public var description: String { message }
}

/// Indices into a labeled record list: which train, which test.
public struct Split: Equatable, Sendable {
    public var train: [Int]
    public var test: [Int]
}

public enum Splitter {
    /// Every group's records shuffled with the seed, `testFraction` of each to the test set
    /// (at least one when a group has two or more records).
    public static func withinTask(_ records: [LabeledRecord], seed: UInt64, testFraction: Double = 0.1) -> Split {
        var rng = SplitMix64(seed: seed)
        var train: [Int] = [], test: [Int] = []
        let groups = Dictionary(grouping: records.indices, by: { records[$0].group })
        for key in groups.keys.sorted() {
            var idx = groups[key]!
            idx.shuffle(using: &rng)
            let n = idx.count >= 2 ? max(1, Int((Double(idx.count) * testFraction).rounded())) : 0
            test += idx.prefix(n)
            train += idx.dropFirst(n)
        }
        return Split(train: train.sorted(), test: test.sorted())
    }

    /// Every task of the held-out networks to the test set, every other task to training:
    /// a task of both a held-out and a kept network is held out, so no task is on both sides.
    public static func byTask(_ records: [LabeledRecord], holdout: [Workload]) throws(SplitError) -> Split {
        guard !holdout.isEmpty else { throw SplitError(code: .noHoldout, message: "by_task needs at least one network to hold out") }
        let held = Set(holdout.flatMap { $0.tasks.map(\.task) })
        let split = Split(train: records.indices.filter { !held.contains(records[$0].record.task) },
                          test: records.indices.filter { held.contains(records[$0].record.task) })
        guard !split.test.isEmpty else {
            throw SplitError(code: .emptySide, message: "no record of \(holdout.map(\.name).joined(separator: ", ")) in the dataset")
        }
        guard !split.train.isEmpty else { throw SplitError(code: .emptySide, message: "holding out \(holdout.map(\.name).joined(separator: ", ")) leaves nothing to train on") }
        return split
    }

    /// The devices a holdout name stands for: a fingerprint, or a target's name such as
    /// `x86-64-v3` (every device of that level, whichever machine measured it), or a model
    /// name (e.g. `NVIDIA H100 80GB HBM3`).
    public static func devices(matching name: String, profiles: [String: DeviceProfile]) -> Set<String> {
        if profiles[name] != nil { return [name] }
        return Set(profiles.filter { $0.value.target == name || $0.value.model == name }.map(\.key))
    }

    /// Every record of the held-out devices to the test set.
    public static func byTarget(_ records: [LabeledRecord], holdout: [String],
                                profiles: [String: DeviceProfile]) throws(SplitError) -> Split {
        guard !holdout.isEmpty else { throw SplitError(code: .noHoldout, message: "by_target needs at least one device to hold out") }
        var held = Set<String>()
        for name in holdout {
            let d = devices(matching: name, profiles: profiles)
            guard !d.isEmpty else {
                let known = Set(profiles.values.map { $0.target.isEmpty ? $0.model : $0.target }).sorted()
                throw SplitError(code: .unknownHoldout, message: "unknown device '\(name)': use a fingerprint or one of \(known.joined(separator: ", "))")
            }
            held.formUnion(d)
        }
        let split = Split(train: records.indices.filter { !held.contains(records[$0].record.device) },
                          test: records.indices.filter { held.contains(records[$0].record.device) })
        guard !split.test.isEmpty else { throw SplitError(code: .emptySide, message: "no record of \(holdout.joined(separator: ", ")) in the dataset") }
        guard !split.train.isEmpty else { throw SplitError(code: .emptySide, message: "holding out \(holdout.joined(separator: ", ")) leaves nothing to train on") }
        return split
    }
}
