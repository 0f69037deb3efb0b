import CXGBoost
import Synchronization
import TuneCore

/// Hyper-parameters of the gradient-boosted trees (TenSet's recipe by default).
public struct XGBoostSettings: Hashable, Sendable, Codable {
    public enum Objective: String, Sendable, Codable, CaseIterable {
        /// Pairwise ranking within each (task, device) group.
        case pairwiseRank = "rank:pairwise"
        /// Squared error on the normalized throughput.
        case regression = "reg:squarederror"
    }
    public var objective = Objective.pairwiseRank
    public var rounds = 300
    public var maxDepth = 6
    public var eta = 0.2
    public var minChildWeight = 1.0
    public var subsample = 1.0
    public var columnSample = 1.0
    public var seed = 0
    /// Threads XGBoost may use while training (scoring uses one).
    public var threads = 2
    public init() {}
}

/// XGBoost through its C API (Debian's libxgboost). One booster per model; calls into it
/// are serialized, since XGBoost's prediction cache is not safe to share between threads.
public final class XGBoostRanker: Ranker, @unchecked Sendable {
    public let kind = "xgb"
    public let featureCount: Int
    public let settings: XGBoostSettings
    private let booster: BoosterHandle
    private let lock = Mutex(())

    private init(booster: BoosterHandle, featureCount: Int, settings: XGBoostSettings) {
        self.booster = booster
        self.featureCount = featureCount
        self.settings = settings
    }

    deinit { XGBoosterFree(booster) }

    static func check(_ rc: Int32, _ call: String) throws(ModelError) {
        guard rc == 0 else {
            let why = XGBGetLastError().map { String(cString: $0) } ?? "unknown error"
            throw ModelError(.library, "\(call) failed: \(why)")
        }
    }

    /// A DMatrix over rows (freed by the caller).
    static func matrix(_ features: [Float], rows: Int, columns: Int) throws(ModelError) -> DMatrixHandle {
        var m: DMatrixHandle?
        let rc = features.withUnsafeBufferPointer { XGDMatrixCreateFromMat($0.baseAddress, bst_ulong(rows), bst_ulong(columns), .nan, &m) }
        try check(rc, "XGDMatrixCreateFromMat")
        guard let m else { throw ModelError(.library, "XGDMatrixCreateFromMat returned no matrix") }
        return m
    }

    /// A DMatrix of a ranking dataset (freed by the caller): rows sorted by group (ranking
    /// needs each group's rows together), labels, and the group sizes for the pairwise objective.
    static func trainingMatrix(_ data: RankingDataset, objective: XGBoostSettings.Objective) throws(ModelError) -> DMatrixHandle {
        let order = data.groups.indices.sorted { (data.groups[$0], $0) < (data.groups[$1], $1) }
        let d = data.featureCount
        var features = [Float](); features.reserveCapacity(data.rows * d)
        for i in order { features += data.features[i * d..<(i + 1) * d] }
        let m = try matrix(features, rows: data.rows, columns: d)
        do {
            let labels = order.map { Float(data.labels[$0]) }
            try check(labels.withUnsafeBufferPointer { XGDMatrixSetFloatInfo(m, "label", $0.baseAddress, bst_ulong(labels.count)) }, "XGDMatrixSetFloatInfo(label)")
            if objective == .pairwiseRank {
                // Group sizes in row order ("group": Debian's libxgboost 1.6 knows no "group_ptr").
                var sizes: [UInt32] = []
                for (k, i) in order.enumerated() {
                    if k > 0 && data.groups[i] == data.groups[order[k - 1]] { sizes[sizes.count - 1] += 1 } else { sizes.append(1) }
                }
                try check(sizes.withUnsafeBufferPointer { XGDMatrixSetUIntInfo(m, "group", $0.baseAddress, bst_ulong(sizes.count)) },
                          "XGDMatrixSetUIntInfo(group)")
            }
        } catch {
            XGDMatrixFree(m)
            throw error
        }
        return m
    }

    /// Boosts `rounds` trees on `m` into `handle` with `settings`, from round `first` on.
    static func boost(_ handle: BoosterHandle, on m: DMatrixHandle, settings: XGBoostSettings, first: Int, rounds: Int) throws(ModelError) {
        let params: [(String, String)] = [
            ("objective", settings.objective.rawValue), ("max_depth", "\(settings.maxDepth)"), ("eta", "\(settings.eta)"),
            ("min_child_weight", "\(settings.minChildWeight)"), ("subsample", "\(settings.subsample)"),
            ("colsample_bytree", "\(settings.columnSample)"), ("seed", "\(settings.seed)"), ("nthread", "\(max(1, settings.threads))"),
            ("tree_method", "hist"), ("verbosity", "0"),
        ]
        for (k, v) in params { try check(XGBoosterSetParam(handle, k, v), "XGBoosterSetParam(\(k))") }
        for round in first..<(first + max(1, rounds)) {
            try check(XGBoosterUpdateOneIter(handle, Int32(round), m), "XGBoosterUpdateOneIter")
        }
        // Scoring runs one candidate pool at a time on one thread.
        try check(XGBoosterSetParam(handle, "nthread", "1"), "XGBoosterSetParam(nthread)")
    }

    /// A new booster that trains on `m` (freed with the ranker that takes it).
    static func booster(trainingOn m: DMatrixHandle) throws(ModelError) -> BoosterHandle {
        var handle: BoosterHandle?
        var inputs: [DMatrixHandle?] = [m]
        try check(inputs.withUnsafeMutableBufferPointer { XGBoosterCreate($0.baseAddress, 1, &handle) }, "XGBoosterCreate")
        guard let handle else { throw ModelError(.library, "XGBoosterCreate returned no booster") }
        return handle
    }

    public static func train(_ data: RankingDataset, settings: XGBoostSettings = XGBoostSettings()) throws(ModelError) -> XGBoostRanker {
        let m = try trainingMatrix(data, objective: settings.objective)
        defer { XGDMatrixFree(m) }
        let ranker = XGBoostRanker(booster: try booster(trainingOn: m), featureCount: data.featureCount, settings: settings)
        try boost(ranker.booster, on: m, settings: settings, first: 0, rounds: settings.rounds)
        return ranker
    }

    /// Adaptation of a boosted model to a new device: a copy of these trees plus `rounds`
    /// more, grown on `data` (the device's first records) at step `eta`. The trees learned
    /// from every other device stay; the new ones correct them where this device differs.
    /// This model is not changed.
    /// `minChildWeight` is the new trees' own: a few records' pairwise hessians sum far
    /// below XGBoost's default of 1, which would leave every new tree a single leaf.
    public func continued(on data: RankingDataset, rounds: Int, eta: Double, minChildWeight: Double) throws(ModelError) -> XGBoostRanker {
        guard data.featureCount == featureCount else { throw ModelError(.shapeMismatch, "adapting a model of \(featureCount) features on \(data.featureCount)") }
        let bytes = try serialized()
        var s = settings
        s.eta = eta
        s.minChildWeight = minChildWeight
        let m = try Self.trainingMatrix(data, objective: s.objective)
        defer { XGDMatrixFree(m) }
        let copy = XGBoostRanker(booster: try Self.booster(trainingOn: m), featureCount: featureCount, settings: settings)
        try Self.check(bytes.withUnsafeBytes { XGBoosterLoadModelFromBuffer(copy.booster, $0.baseAddress, bst_ulong(bytes.count)) },
                       "XGBoosterLoadModelFromBuffer")
        try Self.boost(copy.booster, on: m, settings: s, first: settings.rounds, rounds: rounds)
        return copy
    }

    public func score(features: [Float], rows: Int) -> [Double] {
        guard rows > 0, features.count == rows * featureCount else { return [] }
        return lock.withLock { _ in
            guard let m = try? Self.matrix(features, rows: rows, columns: featureCount) else { return [Double](repeating: 0, count: rows) }
            defer { XGDMatrixFree(m) }
            var length: bst_ulong = 0
            var out: UnsafePointer<Float>?
            guard XGBoosterPredict(booster, m, 0, 0, 0, &length, &out) == 0, let out, Int(length) == rows else {
                return [Double](repeating: 0, count: rows)
            }
            return (0..<rows).map { Double(out[$0]) }
        }
    }

    public func serialized() throws(ModelError) -> [UInt8] {
        try lock.withLock { _ throws(ModelError) in
            var length: bst_ulong = 0
            var bytes: UnsafePointer<CChar>?
            try Self.check(XGBoosterSaveModelToBuffer(booster, #"{"format": "ubj"}"#, &length, &bytes), "XGBoosterSaveModelToBuffer")
            guard let bytes else { throw ModelError(.library, "XGBoosterSaveModelToBuffer returned nothing") }
            return UnsafeRawBufferPointer(start: bytes, count: Int(length)).map { $0 }
        }
    }

    /// A booster from `serialized()` bytes; corrupt bytes are an error, not a crash.
    public convenience init(serialized bytes: [UInt8], featureCount: Int, settings: XGBoostSettings = XGBoostSettings()) throws(ModelError) {
        guard !bytes.isEmpty else { throw ModelError(.corruptModel, "empty XGBoost model") }
        var handle: BoosterHandle?
        try Self.check(XGBoosterCreate(nil, 0, &handle), "XGBoosterCreate")
        guard let handle else { throw ModelError(.library, "XGBoosterCreate returned no booster") }
        let rc = bytes.withUnsafeBytes { XGBoosterLoadModelFromBuffer(handle, $0.baseAddress, bst_ulong(bytes.count)) }
        if rc != 0 {
            let why = XGBGetLastError().map { String(cString: $0) } ?? "unknown"
            XGBoosterFree(handle)
            throw ModelError(.corruptModel, "not a readable XGBoost model: \(why.prefix(300))")
        }
        _ = XGBoosterSetParam(handle, "nthread", "1")
        self.init(booster: handle, featureCount: featureCount, settings: settings)
        // A model of another width answers nothing useful: check it predicts our rows.
        var length: bst_ulong = 0
        var out: UnsafePointer<Float>?
        let probe = [Float](repeating: 0, count: featureCount)
        if let m = try? Self.matrix(probe, rows: 1, columns: featureCount) {
            defer { XGDMatrixFree(m) }
            if XGBoosterPredict(booster, m, 0, 0, 0, &length, &out) != 0 || length != 1 {
                throw ModelError(.corruptModel, "the XGBoost model does not take \(featureCount) features")
            }
        }
    }
}
