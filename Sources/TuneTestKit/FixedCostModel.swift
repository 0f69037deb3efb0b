import TuneCore

/// A cost model whose scores are a fixed function: to test search and scheduling without
/// training anything.
public struct FixedCostModel: CostModel {
    public let version: ModelVersion?
    let scoreOf: @Sendable (TaskSpec, Schedule) -> Double

    public init(version: ModelVersion? = nil, _ score: @escaping @Sendable (TaskSpec, Schedule) -> Double) {
        self.version = version
        scoreOf = score
    }

    public func score(task: TaskSpec, device: DeviceProfile, threads: Int, schedules: [Schedule]) -> [Double] {
        schedules.map { scoreOf(task, $0) }
    }

    /// The model that knows the recording: it ranks every replay point by its recorded time.
    public static func oracle(_ fleet: ReplayFleet) -> FixedCostModel {
        FixedCostModel { task, s in
            guard let t = fleet.measure(task: task, candidate: Candidate(id: 1, schedule: s)).medianSeconds else { return -.infinity }
            return -t
        }
    }
}

extension FixedCostModel {
    /// The same scores under a stored version's identity.
    public func withVersion(_ v: ModelVersion) -> FixedCostModel { FixedCostModel(version: v, scoreOf) }
}
