/// One status taxonomy for every backend. Failure is data: each record keeps its raw text.
public enum MeasureStatus: String, Codable, Sendable, CaseIterable {
    case ok
    case invalidSchedule = "invalid_schedule"
    case compileError = "compile_error"
    case compileTimeout = "compile_timeout"
    case runtimeError = "runtime_error"
    case runTimeout = "run_timeout"
    case wrongAnswer = "wrong_answer"
    case agentLost = "agent_lost"
}

/// How a batch is to be measured. Travels with every batch.
public struct MeasurePlan: Hashable, Codable, Sendable {
    /// Untimed runs before timing starts.
    public var warmupRuns: Int = 1
    /// Number of timed repeats; each repeat is one sample.
    public var repeats: Int = 5
    /// A repeat loops the kernel until at least this long has passed; the sample is the mean.
    public var minRepeatSeconds: Double = 0.02
    /// Overwrite a buffer larger than the last-level cache between repeats.
    public var flushCache: Bool = false
    /// Threads the kernel and the vendor library may use.
    public var threads: Int = 1
    public var compileTimeoutSeconds: Double = 60
    /// Budget for verification plus timing of one candidate (at least: see `runBudget(for:)`).
    public var runTimeoutSeconds: Double = 30
    /// Also time the vendor library for the task in this batch.
    public var includeVendorBaseline: Bool = false
    /// Adaptive repeats: after `repeats` samples, keep sampling while the samples' relative
    /// interquartile range is above this (0: exactly `repeats` samples).
    public var targetSpread: Double = 0.02
    /// The most samples adaptive repeats may take (0: twice `repeats`, so a noisy candidate
    /// costs at most twice a quiet one).
    public var maxRepeats: Int = 0

    public init() {}

    /// Whether a candidate with `samples` so far should be sampled again: until `repeats`,
    /// then while the spread is above `targetSpread` and fewer than `sampleLimit` were taken.
    /// A burst of interference (a few slow samples) then no longer decides the median, and a
    /// quiet candidate costs no more than before.
    public func wantsAnotherSample(_ samples: [Double]) -> Bool {
        if samples.count < max(1, repeats) { return true }
        guard samples.count < sampleLimit, let stats = SampleStats(samples) else { return false }
        return stats.relativeIQR > targetSpread
    }

    /// The most samples one candidate can take.
    public var sampleLimit: Int {
        let fixed = max(1, repeats)
        guard targetSpread > 0 else { return fixed }
        return max(fixed, maxRepeats > 0 ? maxRepeats : 2 * fixed)
    }

    /// The slowest rate a candidate may run at before its time limit, rather than its
    /// speed, ends it: a kernel below 0.5 GFLOP/s is not one worth timing, but a large task
    /// above it is measured however long its runs take.
    public static let slowestWorthTiming = 0.5e9

    /// Seconds a candidate of `task` gets for verification plus timing: the plan's limit, or
    /// more for a task whose runs (warm-up, verification, the repeats and the run that sizes
    /// them) at the slowest rate worth timing need longer, so a large task is not timed out
    /// by a default meant for small ones.
    public func runBudget(for task: TaskSpec) -> Double {
        let runs = Double(max(0, warmupRuns) + sampleLimit + 2)
        return max(runTimeoutSeconds, runs * task.flops / Self.slowestWorthTiming + runTimeoutSeconds / 2)
    }
}

extension MeasurePlan {
    private enum CodingKeys: String, CodingKey {
        case warmupRuns, repeats, minRepeatSeconds, flushCache, threads, compileTimeoutSeconds, runTimeoutSeconds
        case includeVendorBaseline, targetSpread, maxRepeats
    }

    /// A plan stored before a field existed decodes with that field's default, except the
    /// adaptive-repeat fields, which decode as off: an old campaign keeps measuring the way
    /// it was launched.
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        warmupRuns = try c.decodeIfPresent(Int.self, forKey: .warmupRuns) ?? warmupRuns
        repeats = try c.decodeIfPresent(Int.self, forKey: .repeats) ?? repeats
        minRepeatSeconds = try c.decodeIfPresent(Double.self, forKey: .minRepeatSeconds) ?? minRepeatSeconds
        flushCache = try c.decodeIfPresent(Bool.self, forKey: .flushCache) ?? flushCache
        threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? threads
        compileTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .compileTimeoutSeconds) ?? compileTimeoutSeconds
        runTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .runTimeoutSeconds) ?? runTimeoutSeconds
        includeVendorBaseline = try c.decodeIfPresent(Bool.self, forKey: .includeVendorBaseline) ?? includeVendorBaseline
        targetSpread = try c.decodeIfPresent(Double.self, forKey: .targetSpread) ?? 0
        maxRepeats = try c.decodeIfPresent(Int.self, forKey: .maxRepeats) ?? 0
    }
}

/// Summary statistics of timing samples (seconds).
public struct SampleStats: Hashable, Codable, Sendable {
    public var median: Double
    public var min: Double
    public var max: Double
    /// Interquartile range relative to the median.
    public var relativeIQR: Double

    public init?(_ samples: [Double]) {
        guard !samples.isEmpty else { return nil }
        let s = samples.sorted()
        func q(_ p: Double) -> Double {
            let x = p * Double(s.count - 1)
            let lo = Int(x), hi = Swift.min(lo + 1, s.count - 1)
            return s[lo] + (s[hi] - s[lo]) * (x - Double(lo))
        }
        median = q(0.5); min = s[0]; max = s[s.count - 1]
        relativeIQR = median > 0 ? (q(0.75) - q(0.25)) / median : 0
    }
}

/// The outcome of measuring one candidate (or the vendor baseline) on one device.
public struct MeasureResult: Hashable, Codable, Sendable {
    public var candidateID: Int64
    public var status: MeasureStatus
    /// Every timed sample, seconds per kernel run.
    public var samples: [Double]
    public var compileSeconds: Double
    public var errorText: String
    /// Backend detail (e.g. CUDA registers and spills), free-form key/values.
    public var detail: [String: String]

    public init(candidateID: Int64, status: MeasureStatus, samples: [Double] = [], compileSeconds: Double = 0,
                errorText: String = "", detail: [String: String] = [:]) {
        self.candidateID = candidateID; self.status = status; self.samples = samples
        self.compileSeconds = compileSeconds; self.errorText = errorText; self.detail = detail
    }

    public var medianSeconds: Double? { status == .ok ? SampleStats(samples)?.median : nil }
}

/// A candidate as dispatched: the coordinator's id and the schedule to build.
public struct Candidate: Hashable, Codable, Sendable {
    public var id: Int64
    public var schedule: Schedule
    public init(id: Int64, schedule: Schedule) { self.id = id; self.schedule = schedule }
}

/// The id of the vendor-library pseudo-candidate in a batch's results.
public let vendorBaselineCandidateID: Int64 = 0

extension MeasureResult {
    /// The `detail` key of a vendor baseline that could not be timed because the vendor
    /// library has no routine for the task; its value is `missing`.
    public static let vendorRoutineKey = "vendor_routine"

    /// The vendor baseline of a task the vendor library cannot run (softmax on OpenBLAS,
    /// convolution on cuBLAS): nothing was generated, run or timed. The status stays
    /// `invalid_schedule` ("rejected before code generation", a value every peer decodes);
    /// `detail[vendorRoutineKey] == "missing"` says why, so no reader takes it for a
    /// rejected schedule.
    public static func missingVendorRoutine(library: String, task: TaskSpec) -> MeasureResult {
        MeasureResult(candidateID: vendorBaselineCandidateID, status: .invalidSchedule,
                      errorText: "\(library) has no routine for \(task.op.rawValue)",
                      detail: ["library": library, vendorRoutineKey: "missing"])
    }

    /// Whether this is a vendor baseline whose library has no routine for the task.
    public var isMissingVendorRoutine: Bool {
        candidateID == vendorBaselineCandidateID && detail[Self.vendorRoutineKey] == "missing"
    }
}
