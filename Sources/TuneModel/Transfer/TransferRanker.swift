import COpenBLAS
import TuneCore
#if canImport(Glibc)
import Glibc
#endif

/// Where the three feature groups sit in a feature vector.
public struct FeatureGroups: Hashable, Sendable, Codable {
    public var task: Range<Int>
    public var schedule: Range<Int>
    public var hardware: Range<Int>
    public init(task: Range<Int>, schedule: Range<Int>, hardware: Range<Int>) {
        self.task = task; self.schedule = schedule; self.hardware = hardware
    }
}

/// Hyper-parameters of the transfer ranker. The defaults are what the README's numbers use.
public struct TransferRankerSettings: Hashable, Sendable, Codable {
    /// Width of every token (and of the attention's queries, keys and values).
    public var width = 32
    /// Each feature group is cut into tokens of this many consecutive features.
    public var featuresPerToken = 8
    /// Attention heads, in the encoder and in the hardware-over-schedule attention.
    public var heads = 2
    /// Hidden width of the encoder's per-token feed-forward layer.
    public var feedForward = 64
    /// Hidden width of the scoring head.
    public var headHidden = 64
    /// Pre-training: Adam's step size, epochs over the data, groups per mini-batch, LambdaRank
    /// pairs sampled per group and step (all when the group is small).
    public var learningRate: Float = 1e-3
    public var epochs = 20
    public var groupsPerBatch = 8
    public var pairsPerGroup = 128
    /// Few-shot adaptation: steps over the target's records (all of them each step), the
    /// optimizer and its step size, and which parameters move.
    public var adaptSteps = 10
    public var adaptLearningRate: Float = 1e-4
    public var adaptOptimizer = AdaptOptimizer.adam
    public var adaptScope = AdaptScope.all
    public enum AdaptOptimizer: String, Hashable, Sendable, Codable, CaseIterable { case adam, sgd }
    public enum AdaptScope: String, Hashable, Sendable, Codable, CaseIterable {
        /// Every parameter.
        case all
        /// Only what reads the device: the hardware-over-schedule attention and the scoring head.
        case head
    }
    public var seed: UInt64 = 1
    public init() {}
}

/// The hardware-aware attention ranker that carries over to devices it has not seen.
///
/// Each feature group (task, schedule, hardware) is cut into tokens of a few consecutive
/// features, each projected to a token of `width` values by its own linear map (so a token's
/// position is its identity). One encoder layer (multi-head self-attention over all tokens
/// and a per-token feed-forward layer, both residual) lets every group see the others. Then
/// the hardware attends over the schedule: the mean of the hardware tokens is the query of
/// `heads` attention heads whose keys and values are the schedule tokens, so the weight each
/// schedule part gets depends on the device. The heads' output and the mean of all tokens go
/// through a ReLU layer to one score. Trained with LambdaRank and Adam like the MLP;
/// deterministic given the seed (one BLAS thread while training).
public final class TransferRanker: Ranker, @unchecked Sendable {
    public let kind = "transfer"
    public let featureCount: Int
    public let groups: FeatureGroups
    public let settings: TransferRankerSettings
    let layout: Layout
    /// Input standardization, from the pre-training rows (kept when adapting).
    let mean: [Float], scale: [Float]
    /// Every parameter, laid out by `layout`.
    let theta: [Float]

    init(featureCount: Int, groups: FeatureGroups, settings: TransferRankerSettings, mean: [Float], scale: [Float], theta: [Float]) throws(ModelError) {
        self.featureCount = featureCount; self.groups = groups; self.settings = settings
        layout = try Layout(featureCount: featureCount, groups: groups, settings: settings)
        guard theta.count == layout.count, mean.count == featureCount, scale.count == featureCount else {
            throw ModelError(.shapeMismatch, "the transfer ranker needs \(layout.count) parameters, got \(theta.count)")
        }
        self.mean = mean; self.scale = scale; self.theta = theta
    }

    /// The same model with other parameters (what adaptation and meta-learning produce).
    func with(theta: [Float]) -> TransferRanker {
        try! TransferRanker(featureCount: featureCount, groups: groups, settings: settings, mean: mean, scale: scale, theta: theta)
    }

    // MARK: Parameters

    /// Offsets of every parameter block in `theta`.
    struct Layout {
        struct Token { var features: Range<Int>; var w: Int; var b: Int }
        var tokens: [Token] = []
        var scheduleTokens = 0..<0, hardwareTokens = 0..<0
        var width = 0, feedForward = 0, headHidden = 0, heads = 0
        var qkvW = 0, qkvB = 0, outW = 0, outB = 0, ff1W = 0, ff1B = 0, ff2W = 0, ff2B = 0
        var queryW = 0, queryB = 0, keyValueW = 0, keyValueB = 0, head1W = 0, head1B = 0, head2W = 0, head2B = 0
        var count = 0
        /// Every block by name, with its fan-in (0 for biases): what initialization and the
        /// gradient checks walk.
        var blocks: [(name: String, range: Range<Int>, fanIn: Int)] = []

        init(featureCount: Int, groups: FeatureGroups, settings s: TransferRankerSettings) throws(ModelError) {
            width = s.width; feedForward = s.feedForward; headHidden = s.headHidden; heads = s.heads
            guard s.width > 0, s.heads > 0, s.width % s.heads == 0, s.featuresPerToken > 0, s.feedForward > 0, s.headHidden > 0 else {
                throw ModelError(.shapeMismatch, "transfer ranker: width \(s.width) must split into \(s.heads) heads; sizes must be positive")
            }
            for r in [groups.task, groups.schedule, groups.hardware] where r.lowerBound < 0 || r.upperBound > featureCount {
                throw ModelError(.shapeMismatch, "transfer ranker: feature group \(r) is outside \(featureCount) features")
            }
            guard !groups.schedule.isEmpty, !groups.hardware.isEmpty else {
                throw ModelError(.shapeMismatch, "transfer ranker: needs schedule and hardware features")
            }
            var next = 0
            var blocks: [(String, Range<Int>, Int)] = []
            var tokens: [Token] = []
            func take(_ name: String, _ n: Int, fanIn: Int) -> Int { let at = next; next += n; blocks.append((name, at..<next, fanIn)); return at }
            func cut(_ r: Range<Int>, _ name: String) -> Range<Int> {
                let first = tokens.count
                for start in stride(from: r.lowerBound, to: r.upperBound, by: s.featuresPerToken) {
                    let f = start..<min(r.upperBound, start + s.featuresPerToken)
                    let w = take("embed.\(name)\(tokens.count - first).w", s.width * f.count, fanIn: f.count)
                    let b = take("embed.\(name)\(tokens.count - first).b", s.width, fanIn: 0)
                    tokens.append(Token(features: f, w: w, b: b))
                }
                return first..<tokens.count
            }
            _ = cut(groups.task, "task")
            scheduleTokens = cut(groups.schedule, "schedule")
            hardwareTokens = cut(groups.hardware, "hardware")
            self.tokens = tokens
            let d = s.width
            qkvW = take("encoder.qkv.w", 3 * d * d, fanIn: d); qkvB = take("encoder.qkv.b", 3 * d, fanIn: 0)
            outW = take("encoder.out.w", d * d, fanIn: d); outB = take("encoder.out.b", d, fanIn: 0)
            ff1W = take("encoder.ff1.w", s.feedForward * d, fanIn: d); ff1B = take("encoder.ff1.b", s.feedForward, fanIn: 0)
            ff2W = take("encoder.ff2.w", d * s.feedForward, fanIn: s.feedForward); ff2B = take("encoder.ff2.b", d, fanIn: 0)
            queryW = take("hardware.query.w", d * d, fanIn: d); queryB = take("hardware.query.b", d, fanIn: 0)
            keyValueW = take("schedule.keyvalue.w", 2 * d * d, fanIn: d); keyValueB = take("schedule.keyvalue.b", 2 * d, fanIn: 0)
            head1W = take("head1.w", s.headHidden * 2 * d, fanIn: 2 * d); head1B = take("head1.b", s.headHidden, fanIn: 0)
            head2W = take("head2.w", s.headHidden, fanIn: s.headHidden); head2B = take("head2.b", 1, fanIn: 0)
            count = next
            self.blocks = blocks.map { (name: $0.0, range: $0.1, fanIn: $0.2) }
        }

        /// Offsets of one forward pass's activations for `n` rows, all in one buffer.
        struct Pass {
            var n: Int
            var x = 0, e = 0, qkv = 0, p1 = 0, a = 0, z1 = 0, hf = 0, z2 = 0, hbar = 0, pooled = 0
            var zs = 0, q2 = 0, kv2 = 0, p2 = 0, o = 0, u = 0, g = 0, s = 0, count = 0
        }

        func pass(rows n: Int, features d: Int) -> Pass {
            var p = Pass(n: n)
            let t = tokens.count, ns = scheduleTokens.count, w = width
            var next = 0
            func take(_ k: Int) -> Int { let at = next; next += k; return at }
            p.x = take(n * d); p.e = take(n * t * w); p.qkv = take(n * t * 3 * w); p.p1 = take(n * heads * t * t)
            p.a = take(n * t * w); p.z1 = take(n * t * w); p.hf = take(n * t * feedForward); p.z2 = take(n * t * w)
            p.hbar = take(n * w); p.pooled = take(n * w); p.zs = take(n * ns * w); p.q2 = take(n * w)
            p.kv2 = take(n * ns * 2 * w); p.p2 = take(n * heads * ns); p.o = take(n * w); p.u = take(n * 2 * w)
            p.g = take(n * headHidden); p.s = take(n); p.count = next
            return p
        }
    }

    /// Random initial parameters: weights N(0, 1/fan-in) (2/fan-in before a ReLU), token
    /// biases N(0, 0.1) so that tokens differ from the start, other biases 0.
    static func initialTheta(_ layout: Layout, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        var theta = [Float](repeating: 0, count: layout.count)
        for block in layout.blocks {
            let relu = block.name.hasPrefix("encoder.ff1") || block.name.hasPrefix("head1")
            let sd: Double
            if block.fanIn > 0 { sd = ((relu ? 2.0 : 1.0) / Double(block.fanIn)).squareRoot() } else { sd = block.name.hasPrefix("embed") ? 0.1 : 0 }
            guard sd > 0 else { continue }
            for i in block.range { theta[i] = Float(RankMLP.gaussian(&rng) * sd) }
        }
        return theta
    }

    // MARK: Forward and backward

    /// Runs the network on `n` standardized rows already in `m[pass.x...]`; scores end in `m[pass.s...]`.
    func forward(_ t: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>, _ p: Layout.Pass) {
        let L = layout, n = p.n, d = featureCount, tk = L.tokens.count, w = L.width, ns = L.scheduleTokens.count
        // Token embeddings.
        for b in 0..<n {
            let x = m + p.x + b * d
            for (k, token) in L.tokens.enumerated() {
                let e = m + p.e + (b * tk + k) * w
                let f = token.features, len = f.count
                for o in 0..<w {
                    var v = t[token.b + o]
                    let row = t + token.w + o * len
                    for c in 0..<len { v += row[c] * x[f.lowerBound + c] }
                    e[o] = v
                }
            }
        }
        // Encoder: self-attention and feed-forward, both residual.
        DenseOps.linear(m + p.e, rows: n * tk, in: w, out: 3 * w, w: t + L.qkvW, b: t + L.qkvB, into: m + p.qkv)
        let selfAttention = DenseOps.Attention(batch: n, queries: tk, keys: tk, width: w, heads: L.heads, qStride: 3 * w, kvStride: 3 * w)
        DenseOps.attention(selfAttention, q: m + p.qkv, k: m + p.qkv + w, v: m + p.qkv + 2 * w, out: m + p.a, probabilities: m + p.p1)
        (m + p.z1).update(from: m + p.e, count: n * tk * w)
        DenseOps.linear(m + p.a, rows: n * tk, in: w, out: w, w: t + L.outW, b: t + L.outB, into: m + p.z1, accumulate: true)
        DenseOps.linear(m + p.z1, rows: n * tk, in: w, out: L.feedForward, w: t + L.ff1W, b: t + L.ff1B, into: m + p.hf)
        DenseOps.relu(m + p.hf, count: n * tk * L.feedForward)
        (m + p.z2).update(from: m + p.z1, count: n * tk * w)
        DenseOps.linear(m + p.hf, rows: n * tk, in: L.feedForward, out: w, w: t + L.ff2W, b: t + L.ff2B, into: m + p.z2, accumulate: true)
        // Pools: the hardware tokens' mean, every token's mean; the schedule tokens gathered.
        let nh = Float(L.hardwareTokens.count), nt = Float(tk)
        for b in 0..<n {
            let hbar = m + p.hbar + b * w, pooled = m + p.pooled + b * w
            for o in 0..<w { hbar[o] = 0; pooled[o] = 0 }
            for k in 0..<tk {
                let z = m + p.z2 + (b * tk + k) * w
                for o in 0..<w { pooled[o] += z[o] / nt }
                if L.hardwareTokens.contains(k) { for o in 0..<w { hbar[o] += z[o] / nh } }
            }
            (m + p.zs + b * ns * w).update(from: m + p.z2 + (b * tk + L.scheduleTokens.lowerBound) * w, count: ns * w)
        }
        // The hardware weighs the schedule.
        DenseOps.linear(m + p.hbar, rows: n, in: w, out: w, w: t + L.queryW, b: t + L.queryB, into: m + p.q2)
        DenseOps.linear(m + p.zs, rows: n * ns, in: w, out: 2 * w, w: t + L.keyValueW, b: t + L.keyValueB, into: m + p.kv2)
        DenseOps.attention(crossAttention(n), q: m + p.q2, k: m + p.kv2, v: m + p.kv2 + w, out: m + p.o, probabilities: m + p.p2)
        // Head.
        for b in 0..<n {
            (m + p.u + b * 2 * w).update(from: m + p.o + b * w, count: w)
            (m + p.u + b * 2 * w + w).update(from: m + p.pooled + b * w, count: w)
        }
        DenseOps.linear(m + p.u, rows: n, in: 2 * w, out: L.headHidden, w: t + L.head1W, b: t + L.head1B, into: m + p.g)
        DenseOps.relu(m + p.g, count: n * L.headHidden)
        DenseOps.linear(m + p.g, rows: n, in: L.headHidden, out: 1, w: t + L.head2W, b: t + L.head2B, into: m + p.s)
    }

    func crossAttention(_ n: Int) -> DenseOps.Attention {
        DenseOps.Attention(batch: n, queries: 1, keys: layout.scheduleTokens.count, width: layout.width, heads: layout.heads,
                           qStride: layout.width, kvStride: 2 * layout.width)
    }

    /// Gradients of every parameter into `grad`, given dLoss/dScore in `dm[pass.s...]`; `dm`
    /// has the pass's layout and starts zeroed.
    func backward(_ t: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>, _ dm: UnsafeMutablePointer<Float>,
                  _ grad: UnsafeMutablePointer<Float>, _ p: Layout.Pass) {
        let L = layout, n = p.n, d = featureCount, tk = L.tokens.count, w = L.width, ns = L.scheduleTokens.count
        DenseOps.linearBackward(m + p.g, rows: n, in: L.headHidden, out: 1, w: t + L.head2W, dy: dm + p.s,
                                dw: grad + L.head2W, db: grad + L.head2B, dx: dm + p.g)
        DenseOps.reluBackward(output: m + p.g, gradient: dm + p.g, count: n * L.headHidden)
        DenseOps.linearBackward(m + p.u, rows: n, in: 2 * w, out: L.headHidden, w: t + L.head1W, dy: dm + p.g,
                                dw: grad + L.head1W, db: grad + L.head1B, dx: dm + p.u)
        for b in 0..<n {
            (dm + p.o + b * w).update(from: dm + p.u + b * 2 * w, count: w)
            (dm + p.pooled + b * w).update(from: dm + p.u + b * 2 * w + w, count: w)
        }
        DenseOps.attentionBackward(crossAttention(n), q: m + p.q2, k: m + p.kv2, v: m + p.kv2 + w, probabilities: m + p.p2,
                                   dOut: dm + p.o, dq: dm + p.q2, dk: dm + p.kv2, dv: dm + p.kv2 + w)
        DenseOps.linearBackward(m + p.zs, rows: n * ns, in: w, out: 2 * w, w: t + L.keyValueW, dy: dm + p.kv2,
                                dw: grad + L.keyValueW, db: grad + L.keyValueB, dx: dm + p.zs)
        DenseOps.linearBackward(m + p.hbar, rows: n, in: w, out: w, w: t + L.queryW, dy: dm + p.q2,
                                dw: grad + L.queryW, db: grad + L.queryB, dx: dm + p.hbar)
        let nh = Float(L.hardwareTokens.count), nt = Float(tk)
        for b in 0..<n {
            for k in 0..<tk {
                let dz = dm + p.z2 + (b * tk + k) * w
                let dPooled = dm + p.pooled + b * w, dHbar = dm + p.hbar + b * w
                for o in 0..<w { dz[o] = dPooled[o] / nt }
                if L.hardwareTokens.contains(k) { for o in 0..<w { dz[o] += dHbar[o] / nh } }
                if L.scheduleTokens.contains(k) {
                    let dzs = dm + p.zs + (b * ns + k - L.scheduleTokens.lowerBound) * w
                    for o in 0..<w { dz[o] += dzs[o] }
                }
            }
        }
        // Feed-forward (residual): dZ1 = dZ2 + through the two layers.
        (dm + p.z1).update(from: dm + p.z2, count: n * tk * w)
        DenseOps.linearBackward(m + p.hf, rows: n * tk, in: L.feedForward, out: w, w: t + L.ff2W, dy: dm + p.z2,
                                dw: grad + L.ff2W, db: grad + L.ff2B, dx: dm + p.hf)
        DenseOps.reluBackward(output: m + p.hf, gradient: dm + p.hf, count: n * tk * L.feedForward)
        DenseOps.linearBackward(m + p.z1, rows: n * tk, in: w, out: L.feedForward, w: t + L.ff1W, dy: dm + p.hf,
                                dw: grad + L.ff1W, db: grad + L.ff1B, dx: dm + p.z1, accumulateDx: true)
        // Self-attention (residual): dE = dZ1 + through attention and the projections.
        (dm + p.e).update(from: dm + p.z1, count: n * tk * w)
        DenseOps.linearBackward(m + p.a, rows: n * tk, in: w, out: w, w: t + L.outW, dy: dm + p.z1,
                                dw: grad + L.outW, db: grad + L.outB, dx: dm + p.a)
        let selfAttention = DenseOps.Attention(batch: n, queries: tk, keys: tk, width: w, heads: L.heads, qStride: 3 * w, kvStride: 3 * w)
        DenseOps.attentionBackward(selfAttention, q: m + p.qkv, k: m + p.qkv + w, v: m + p.qkv + 2 * w, probabilities: m + p.p1,
                                   dOut: dm + p.a, dq: dm + p.qkv, dk: dm + p.qkv + w, dv: dm + p.qkv + 2 * w)
        DenseOps.linearBackward(m + p.e, rows: n * tk, in: w, out: 3 * w, w: t + L.qkvW, dy: dm + p.qkv,
                                dw: grad + L.qkvW, db: grad + L.qkvB, dx: dm + p.e, accumulateDx: true)
        // Token embeddings.
        for b in 0..<n {
            let x = m + p.x + b * d
            for (k, token) in L.tokens.enumerated() {
                let de = dm + p.e + (b * tk + k) * w
                let f = token.features, len = f.count
                for o in 0..<w {
                    let g = de[o]
                    grad[token.b + o] += g
                    let row = grad + token.w + o * len
                    for c in 0..<len { row[c] += g * x[f.lowerBound + c] }
                }
            }
        }
    }

    // MARK: Scoring and the loss

    func standardize(_ features: ArraySlice<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        var i = 0
        for v in features { let c = i % featureCount; out[i] = (v - mean[c]) * scale[c]; i += 1 }
    }

    /// Scores of rows already standardized, with parameters `theta`.
    func scores(standardized x: [Float], rows: Int, theta: [Float]) -> [Float] {
        var out = [Float](); out.reserveCapacity(rows)
        let chunk = 512
        for start in stride(from: 0, to: rows, by: chunk) {
            let n = min(chunk, rows - start)
            let p = layout.pass(rows: n, features: featureCount)
            var arena = [Float](repeating: 0, count: p.count)
            theta.withUnsafeBufferPointer { t in
                arena.withUnsafeMutableBufferPointer { m in
                    x.withUnsafeBufferPointer { xs in (m.baseAddress! + p.x).update(from: xs.baseAddress! + start * featureCount, count: n * featureCount) }
                    forward(t.baseAddress!, m.baseAddress!, p)
                    out += UnsafeBufferPointer(start: m.baseAddress! + p.s, count: n)
                }
            }
        }
        return out
    }

    public func score(features: [Float], rows: Int) -> [Double] {
        guard rows > 0, features.count == rows * featureCount else { return [] }
        return scores(standardized: standardizedRows(features, rows: rows), rows: rows, theta: theta).map(Double.init)
    }

    func standardizedRows(_ features: [Float], rows: Int) -> [Float] {
        var x = [Float](repeating: 0, count: rows * featureCount)
        x.withUnsafeMutableBufferPointer { standardize(features[...], rows: rows, into: $0.baseAddress!) }
        return x
    }

    /// The pairwise logistic loss of `pairs` over the scores of `rows` standardized rows, and
    /// its gradient with respect to every parameter.
    func lossAndGradient(standardized x: [Float], rows n: Int, pairs: [(Int, Int, Float)], theta: [Float]) -> (loss: Float, gradient: [Float]) {
        lossAndGradient(standardized: x, rows: n, theta: theta) { _ in pairs }
    }

    /// Same, with the pairs chosen from the forward pass's own scores (LambdaRank's weights
    /// depend on the current ranking), so each step runs the network forward once.
    func lossAndGradient(standardized x: [Float], rows n: Int, theta: [Float],
                         pairs choose: ([Float]) -> [(Int, Int, Float)]) -> (loss: Float, gradient: [Float]) {
        let p = layout.pass(rows: n, features: featureCount)
        var arena = [Float](repeating: 0, count: p.count), darena = arena
        var grad = [Float](repeating: 0, count: layout.count)
        var loss: Float = 0
        theta.withUnsafeBufferPointer { t in
            arena.withUnsafeMutableBufferPointer { m in
                x.withUnsafeBufferPointer { (m.baseAddress! + p.x).update(from: $0.baseAddress!, count: n * featureCount) }
                forward(t.baseAddress!, m.baseAddress!, p)
                let s = Array(UnsafeBufferPointer(start: m.baseAddress! + p.s, count: n))
                let pairs = choose(s)
                guard !pairs.isEmpty else { return }
                darena.withUnsafeMutableBufferPointer { dm in
                    for (hi, lo, weight) in pairs {
                        let z = s[hi] - s[lo]
                        loss += weight * (z > 0 ? log1p(exp(-z)) : -z + log1p(exp(z)))
                        let g = -weight / (1 + exp(z))
                        dm[p.s + hi] += g
                        dm[p.s + lo] -= g
                    }
                    grad.withUnsafeMutableBufferPointer { backward(t.baseAddress!, m.baseAddress!, dm.baseAddress!, $0.baseAddress!, p) }
                }
            }
        }
        return (loss, grad)
    }

    /// LambdaRank pairs of a batch of whole groups (row indices into the batch).
    static func batchPairs(scores s: [Float], labels: [Double], members: [[Int]], limit: Int, rng: inout SplitMix64) -> [(Int, Int, Float)] {
        var out: [(Int, Int, Float)] = []
        for idx in members where idx.count >= 2 {
            out += RankMLP.pairs(scores: idx.map { s[$0] }, labels: idx.map { labels[$0] }, limit: limit, rng: &rng)
                .map { (idx[$0.0], idx[$0.1], $0.2) }
        }
        return out
    }

    /// Adam steps over `data` (standardized with this model's statistics) from `theta`; one
    /// step per mini-batch of whole groups, `epochs` passes. What pre-training, adaptation and
    /// the meta-learner's inner loop all run.
    func fit(_ data: RankingDataset, from start: [Float], epochs: Int, groupsPerBatch: Int, learningRate: Float,
             pairsPerGroup: Int, seed: UInt64, maxSteps: Int? = nil, optimizer: TransferRankerSettings.AdaptOptimizer = .adam,
             scope: TransferRankerSettings.AdaptScope = .all) -> [Float] {
        var theta = start
        var adam = Adam(count: theta.count, learningRate: learningRate)
        // Parameters outside the scope keep their values.
        var frozen = [Bool](repeating: false, count: theta.count)
        if scope == .head {
            for b in layout.blocks where !(b.name.hasPrefix("head") || b.name.hasPrefix("hardware.") || b.name.hasPrefix("schedule.")) {
                for i in b.range { frozen[i] = true }
            }
        }
        let x = standardizedRows(data.features, rows: data.rows)
        let groups = Dictionary(grouping: 0..<data.rows, by: { data.groups[$0] }).sorted { $0.key < $1.key }.map(\.value)
        var rng = SplitMix64(seed: seed ^ 0x7472_616e_73)
        var steps = 0
        openblas_set_num_threads(1)
        for _ in 0..<max(1, epochs) {
            var order = Array(groups.indices)
            order.shuffle(using: &rng)
            for start in stride(from: 0, to: order.count, by: max(1, groupsPerBatch)) {
                if let maxSteps, steps >= maxSteps { return theta }
                var rows: [Int] = [], members: [[Int]] = []
                for gi in order[start..<min(order.count, start + groupsPerBatch)] {
                    members.append(Array(rows.count..<(rows.count + groups[gi].count)))
                    rows += groups[gi]
                }
                var bx = [Float](); bx.reserveCapacity(rows.count * featureCount)
                for r in rows { bx += x[r * featureCount..<(r + 1) * featureCount] }
                let labels = rows.map { data.labels[$0] }
                let (_, g) = lossAndGradient(standardized: bx, rows: rows.count, theta: theta) { s in
                    Self.batchPairs(scores: s, labels: labels, members: members, limit: pairsPerGroup, rng: &rng)
                }
                var g2 = g
                for i in g2.indices where frozen[i] { g2[i] = 0 }
                switch optimizer {
                case .adam:
                    let before = theta
                    adam.update(&theta, gradient: g2)
                    for i in theta.indices where frozen[i] { theta[i] = before[i] }
                case .sgd:
                    for i in theta.indices { theta[i] -= learningRate * g2[i] }
                }
                steps += 1
            }
        }
        return theta
    }

    /// Pre-trains a transfer ranker on `data`.
    public static func train(_ data: RankingDataset, groups: FeatureGroups, settings: TransferRankerSettings = TransferRankerSettings()) throws(ModelError) -> TransferRanker {
        let (mean, scale) = Standardization.of(data)
        let layout = try Layout(featureCount: data.featureCount, groups: groups, settings: settings)
        let initial = try TransferRanker(featureCount: data.featureCount, groups: groups, settings: settings, mean: mean, scale: scale,
                                         theta: initialTheta(layout, seed: settings.seed))
        let theta = initial.fit(data, from: initial.theta, epochs: settings.epochs, groupsPerBatch: settings.groupsPerBatch,
                                learningRate: settings.learningRate, pairsPerGroup: settings.pairsPerGroup, seed: settings.seed)
        guard theta.allSatisfy(\.isFinite) else { throw ModelError(.notFinite, "the transfer ranker diverged") }
        return initial.with(theta: theta)
    }

    /// This model fine-tuned on a few records of a new device (or task): `adaptSteps` Adam
    /// steps over all of them at once. The base is not changed.
    public func adapted(to data: RankingDataset, steps: Int? = nil, learningRate: Float? = nil) throws(ModelError) -> TransferRanker {
        guard data.featureCount == featureCount else { throw ModelError(.shapeMismatch, "records of \(data.featureCount) features for a model of \(featureCount)") }
        let groupCount = Set(data.groups).count
        let theta = fit(data, from: self.theta, epochs: steps ?? settings.adaptSteps, groupsPerBatch: max(1, groupCount),
                        learningRate: learningRate ?? settings.adaptLearningRate, pairsPerGroup: settings.pairsPerGroup,
                        seed: settings.seed &+ UInt64(data.rows), optimizer: settings.adaptOptimizer, scope: settings.adaptScope)
        guard theta.allSatisfy(\.isFinite) else { throw ModelError(.notFinite, "adaptation diverged") }
        return with(theta: theta)
    }

    // MARK: Bytes: "TFXFR" 1, featureCount, groups, settings' sizes, mean, scale, theta (little-endian).

    static let magic: [UInt8] = Array("TFXFR".utf8)

    public func serialized() throws -> [UInt8] {
        var w = ByteWriter(magic: Self.magic)
        w.u32(1); w.u32(featureCount)
        for r in [groups.task, groups.schedule, groups.hardware] { w.u32(r.lowerBound); w.u32(r.upperBound) }
        for v in [settings.width, settings.featuresPerToken, settings.heads, settings.feedForward, settings.headHidden] { w.u32(v) }
        w.floats(mean); w.floats(scale); w.u32(theta.count); w.floats(theta)
        return w.bytes
    }

    /// Reads a serialized ranker; the training settings (not in the bytes) come from `settings`.
    public convenience init(serialized bytes: [UInt8], settings: TransferRankerSettings = TransferRankerSettings()) throws(ModelError) {
        var r = try ByteReader(bytes, magic: Self.magic, what: "transfer ranker")
        guard try r.u32() == 1 else { throw r.bad("unknown version") }
        let d = try r.u32()
        guard (1...1 << 16).contains(d) else { throw r.bad("\(d) features") }
        var ranges: [Range<Int>] = []
        for _ in 0..<3 {
            let lo = try r.u32(), hi = try r.u32()
            guard lo <= hi, hi <= d else { throw r.bad("feature group \(lo)..<\(hi)") }
            ranges.append(lo..<hi)
        }
        var s = settings
        let sizes = try (0..<5).map { _ throws(ModelError) in try r.u32() }
        guard sizes.allSatisfy({ (1...4096).contains($0) }) else { throw r.bad("sizes \(sizes)") }
        (s.width, s.featuresPerToken, s.heads, s.feedForward, s.headHidden) = (sizes[0], sizes[1], sizes[2], sizes[3], sizes[4])
        let mean = try r.floats(d), scale = try r.floats(d)
        let count = try r.u32()
        let theta = try r.floats(count)
        try r.end()
        try self.init(featureCount: d, groups: FeatureGroups(task: ranges[0], schedule: ranges[1], hardware: ranges[2]),
                      settings: s, mean: mean, scale: scale, theta: theta)
    }
}

/// Per-feature mean and inverse standard deviation (0 for a constant feature).
enum Standardization {
    static func of(_ data: RankingDataset) -> (mean: [Float], scale: [Float]) {
        let d = data.featureCount
        var mean = [Float](repeating: 0, count: d), scale = [Float](repeating: 1, count: d)
        for c in 0..<d {
            var m = 0.0, v = 0.0
            for r in 0..<data.rows { m += Double(data.features[r * d + c]) }
            m /= Double(data.rows)
            for r in 0..<data.rows { let e = Double(data.features[r * d + c]) - m; v += e * e }
            let sd = (v / Double(data.rows)).squareRoot()
            mean[c] = Float(m); scale[c] = sd > 1e-9 ? Float(1 / sd) : 0
        }
        return (mean, scale)
    }
}

/// Little-endian model bytes.
struct ByteWriter {
    var bytes: [UInt8]
    init(magic: [UInt8]) { bytes = magic }
    mutating func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { bytes += $0 } }
    mutating func floats(_ a: [Float]) { for f in a { withUnsafeBytes(of: f.bitPattern.littleEndian) { bytes += $0 } } }
}

struct ByteReader {
    let bytes: [UInt8], what: String
    var at: Int
    init(_ bytes: [UInt8], magic: [UInt8], what: String) throws(ModelError) {
        self.bytes = bytes; self.what = what; at = magic.count
        guard bytes.count > magic.count, Array(bytes.prefix(magic.count)) == magic else {
            throw ModelError(.corruptModel, "not a TuneFleet \(what): wrong magic")
        }
    }
    func bad(_ why: String) -> ModelError { ModelError(.corruptModel, "not a TuneFleet \(what): \(why)") }
    mutating func u32() throws(ModelError) -> Int {
        guard at + 4 <= bytes.count else { throw bad("truncated") }
        let v = bytes[at..<at + 4].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
        at += 4
        return Int(v)
    }
    mutating func floats(_ n: Int) throws(ModelError) -> [Float] {
        guard n >= 0, at + 4 * n <= bytes.count else { throw bad("truncated") }
        var out = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let b = bytes[at + 4 * i..<at + 4 * i + 4].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
            out[i] = Float(bitPattern: b)
        }
        at += 4 * n
        guard out.allSatisfy(\.isFinite) else { throw bad("non-finite parameters") }
        return out
    }
    func end() throws(ModelError) { guard at == bytes.count else { throw bad("\(bytes.count - at) trailing bytes") } }
}
