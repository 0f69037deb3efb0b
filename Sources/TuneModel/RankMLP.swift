import COpenBLAS
import TuneCore
#if canImport(Glibc)
import Glibc
#endif

/// Hyper-parameters of the ranking MLP (TenSet's recipe by default).
public struct RankMLPSettings: Hashable, Sendable, Codable {
    public var hidden = [256, 256]
    public var learningRate: Float = 7e-4
    public var epochs = 30
    /// Groups per mini-batch.
    public var groupsPerBatch = 8
    /// Pairs sampled per group and step (all pairs when the group is small).
    public var pairsPerGroup = 256
    public var seed: UInt64 = 1
    public init() {}
}

/// A multilayer perceptron scoring one row, trained with LambdaRank (pairwise logistic loss
/// weighted by |delta NDCG| of swapping the pair) and Adam. Dense math through OpenBLAS;
/// deterministic given the seed (one BLAS thread while training).
public final class RankMLP: Ranker, @unchecked Sendable {
    public let kind = "mlp"
    public let featureCount: Int
    public let settings: RankMLPSettings
    /// Input standardization learned from the training rows.
    var mean: [Float], scale: [Float]
    /// Layer l: weights out x in (row-major) and biases; the last layer has one output.
    var weights: [[Float]], biases: [[Float]]
    var sizes: [Int] { [featureCount] + settings.hidden + [1] }

    init(featureCount: Int, settings: RankMLPSettings, mean: [Float], scale: [Float], weights: [[Float]], biases: [[Float]]) {
        self.featureCount = featureCount; self.settings = settings; self.mean = mean; self.scale = scale
        self.weights = weights; self.biases = biases
    }

    /// He-initialized weights, zero biases.
    static func initial(featureCount: Int, settings: RankMLPSettings, mean: [Float], scale: [Float]) -> RankMLP {
        var rng = SplitMix64(seed: settings.seed)
        let sizes = [featureCount] + settings.hidden + [1]
        var w: [[Float]] = [], b: [[Float]] = []
        for l in 0..<(sizes.count - 1) {
            let fanIn = sizes[l], out = sizes[l + 1]
            let sd = Float((2.0 / Double(fanIn)).squareRoot())
            w.append((0..<(out * fanIn)).map { _ in Float(gaussian(&rng)) * sd })
            b.append([Float](repeating: 0, count: out))
        }
        return RankMLP(featureCount: featureCount, settings: settings, mean: mean, scale: scale, weights: w, biases: b)
    }

    static func gaussian(_ rng: inout SplitMix64) -> Double {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &rng), v = Double.random(in: 0..<1, using: &rng)
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    /// Activations of every layer for n standardized rows (the last is the score).
    func forward(_ x: [Float], rows n: Int) -> [[Float]] {
        var acts = [x]
        for l in 0..<weights.count {
            let inDim = sizes[l], outDim = sizes[l + 1]
            var h = [Float](repeating: 0, count: n * outDim)
            for r in 0..<n { for o in 0..<outDim { h[r * outDim + o] = biases[l][o] } }
            // H (n x out) += X (n x in) . W^T (in x out)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(outDim), Int32(inDim), 1,
                        acts[l], Int32(inDim), weights[l], Int32(inDim), 1, &h, Int32(outDim))
            if l < weights.count - 1 { for i in h.indices where h[i] < 0 { h[i] = 0 } }
            acts.append(h)
        }
        return acts
    }

    func standardize(_ features: [Float], rows: Int) -> [Float] {
        var x = features
        for r in 0..<rows { for c in 0..<featureCount { x[r * featureCount + c] = (x[r * featureCount + c] - mean[c]) * scale[c] } }
        return x
    }

    public func score(features: [Float], rows: Int) -> [Double] {
        guard rows > 0, features.count == rows * featureCount else { return [] }
        return forward(standardize(features, rows: rows), rows: rows).last!.map(Double.init)
    }

    /// The LambdaRank pairs of one group: (better, worse, weight), weights from the ranks the
    /// current scores give.
    static func pairs(scores s: [Float], labels y: [Double], limit: Int, rng: inout SplitMix64) -> [(Int, Int, Float)] {
        let n = s.count
        guard n >= 2 else { return [] }
        let order = s.indices.sorted { (s[$0], -$0) > (s[$1], -$1) }
        var rank = [Int](repeating: 0, count: n)
        for (r, i) in order.enumerated() { rank[i] = r }
        let ideal = y.sorted(by: >).enumerated().reduce(0.0) { $0 + (pow(2, $1.element) - 1) / log2(Double($1.offset) + 2) }
        guard ideal > 0 else { return [] }
        var out: [(Int, Int, Float)] = []
        let all = n * (n - 1) / 2
        let tries = min(all, limit)
        for t in 0..<tries {
            var i: Int, j: Int
            if all <= limit {
                // Enumerate every pair once.
                var k = t; i = 0
                while k >= n - 1 - i { k -= n - 1 - i; i += 1 }
                j = i + 1 + k
            } else {
                i = Int.random(in: 0..<n, using: &rng); j = Int.random(in: 0..<n, using: &rng)
            }
            guard i != j, y[i] != y[j] else { continue }
            let (hi, lo) = y[i] > y[j] ? (i, j) : (j, i)
            let delta = abs((pow(2, y[hi]) - pow(2, y[lo])) * (1 / log2(Double(rank[hi]) + 2) - 1 / log2(Double(rank[lo]) + 2))) / ideal
            out.append((hi, lo, Float(delta)))
        }
        return out
    }

    /// Loss of the pairs and the gradients of every weight and bias (backpropagation).
    func lossAndGradients(_ x: [Float], rows n: Int, pairs: [(Int, Int, Float)]) -> (loss: Float, dW: [[Float]], dB: [[Float]]) {
        let acts = forward(x, rows: n)
        let s = acts.last!
        var loss: Float = 0
        var delta = [Float](repeating: 0, count: n)  // dLoss / dScore
        for (hi, lo, w) in pairs {
            let z = s[hi] - s[lo]
            loss += w * (z > 0 ? log1p(exp(-z)) : -z + log1p(exp(z)))
            let g = -w / (1 + exp(z))
            delta[hi] += g
            delta[lo] -= g
        }
        var dW = weights.map { [Float](repeating: 0, count: $0.count) }
        var dB = biases.map { [Float](repeating: 0, count: $0.count) }
        for l in stride(from: weights.count - 1, through: 0, by: -1) {
            let inDim = sizes[l], outDim = sizes[l + 1]
            // dW (out x in) = delta^T (out x n) . A (n x in)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(outDim), Int32(inDim), Int32(n), 1,
                        delta, Int32(outDim), acts[l], Int32(inDim), 0, &dW[l], Int32(inDim))
            for r in 0..<n { for o in 0..<outDim { dB[l][o] += delta[r * outDim + o] } }
            guard l > 0 else { break }
            // delta_prev (n x in) = delta (n x out) . W (out x in), through the ReLU.
            var prev = [Float](repeating: 0, count: n * inDim)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(inDim), Int32(outDim), 1,
                        delta, Int32(outDim), weights[l], Int32(inDim), 0, &prev, Int32(inDim))
            for i in prev.indices where acts[l][i] <= 0 { prev[i] = 0 }
            delta = prev
        }
        return (loss, dW, dB)
    }

    public static func train(_ data: RankingDataset, settings: RankMLPSettings = RankMLPSettings()) throws(ModelError) -> RankMLP {
        let d = data.featureCount
        let (mean, scale) = Standardization.of(data)
        let model = initial(featureCount: d, settings: settings, mean: mean, scale: scale)
        let x = model.standardize(data.features, rows: data.rows)
        let groups = Dictionary(grouping: 0..<data.rows, by: { data.groups[$0] }).sorted { $0.key < $1.key }.map(\.value)
        var rng = SplitMix64(seed: settings.seed ^ 0x6d6c_70)
        var m1 = model.weights.map { [Float](repeating: 0, count: $0.count) }, v1 = m1
        var mb = model.biases.map { [Float](repeating: 0, count: $0.count) }, vb = mb
        var step: Float = 0
        let (beta1, beta2, eps): (Float, Float, Float) = (0.9, 0.999, 1e-8)
        openblas_set_num_threads(1)
        for _ in 0..<max(1, settings.epochs) {
            var order = Array(groups.indices)
            order.shuffle(using: &rng)
            for start in stride(from: 0, to: order.count, by: max(1, settings.groupsPerBatch)) {
                // One mini-batch: whole groups, rows gathered.
                var rows: [Int] = []
                var pairs: [(Int, Int, Float)] = []
                for gi in order[start..<min(order.count, start + settings.groupsPerBatch)] {
                    let idx = groups[gi]
                    let base = rows.count
                    rows += idx
                    var gx = [Float](); gx.reserveCapacity(idx.count * d)
                    for r in idx { gx += x[r * d..<(r + 1) * d] }
                    let s = model.forward(gx, rows: idx.count).last!
                    pairs += Self.pairs(scores: s, labels: idx.map { data.labels[$0] }, limit: settings.pairsPerGroup, rng: &rng)
                        .map { ($0.0 + base, $0.1 + base, $0.2) }
                }
                guard !pairs.isEmpty else { continue }
                var bx = [Float](); bx.reserveCapacity(rows.count * d)
                for r in rows { bx += x[r * d..<(r + 1) * d] }
                let (_, dW, dB) = model.lossAndGradients(bx, rows: rows.count, pairs: pairs)
                step += 1
                let c1 = 1 - pow(beta1, step), c2 = 1 - pow(beta2, step)
                let lr = settings.learningRate
                for l in 0..<model.weights.count {
                    for i in model.weights[l].indices {
                        let g = dW[l][i]
                        m1[l][i] = beta1 * m1[l][i] + (1 - beta1) * g
                        v1[l][i] = beta2 * v1[l][i] + (1 - beta2) * g * g
                        model.weights[l][i] -= lr * (m1[l][i] / c1) / ((v1[l][i] / c2).squareRoot() + eps)
                    }
                    for i in model.biases[l].indices {
                        let g = dB[l][i]
                        mb[l][i] = beta1 * mb[l][i] + (1 - beta1) * g
                        vb[l][i] = beta2 * vb[l][i] + (1 - beta2) * g * g
                        model.biases[l][i] -= lr * (mb[l][i] / c1) / ((vb[l][i] / c2).squareRoot() + eps)
                    }
                }
            }
        }
        guard model.weights.allSatisfy({ $0.allSatisfy(\.isFinite) }) else { throw ModelError(.notFinite, "the MLP diverged") }
        return model
    }

    // MARK: Bytes: "TFMLP" 1, featureCount, layer sizes, mean, scale, weights and biases (little-endian).

    static let magic: [UInt8] = Array("TFMLP".utf8)

    public func serialized() throws -> [UInt8] {
        var w = ByteWriter(magic: Self.magic)
        w.u32(1); w.u32(sizes.count)
        for s in sizes { w.u32(s) }
        w.floats(mean); w.floats(scale)
        for l in weights.indices { w.floats(weights[l]); w.floats(biases[l]) }
        return w.bytes
    }

    public convenience init(serialized bytes: [UInt8], settings: RankMLPSettings = RankMLPSettings()) throws(ModelError) {
        var r = try ByteReader(bytes, magic: Self.magic, what: "MLP")
        guard try r.u32() == 1 else { throw r.bad("unknown version") }
        let count = try r.u32()
        guard (2...16).contains(count) else { throw r.bad("\(count) layers") }
        var sizes: [Int] = []
        for _ in 0..<count { let s = try r.u32(); guard (1...1 << 16).contains(s) else { throw r.bad("layer of \(s)") }; sizes.append(s) }
        guard sizes.last == 1 else { throw r.bad("the last layer must have one output") }
        let mean = try r.floats(sizes[0]), scale = try r.floats(sizes[0])
        var w: [[Float]] = [], b: [[Float]] = []
        for l in 0..<(count - 1) { w.append(try r.floats(sizes[l] * sizes[l + 1])); b.append(try r.floats(sizes[l + 1])) }
        try r.end()
        var s = settings
        s.hidden = Array(sizes.dropFirst().dropLast())
        self.init(featureCount: sizes[0], settings: s, mean: mean, scale: scale, weights: w, biases: b)
    }
}
