/// Each operator's parameters as a typed value: what code generation, features and
/// references read, instead of looking parameters up by name.
public enum TaskShape: Hashable, Sendable {
    case matmul(Matmul)
    case batchMatmul(BatchMatmul)
    case conv2d(Conv)
    case depthwiseConv2d(Conv)
    case softmax(rows: Int, cols: Int)
    case elementwise(n: Int, chain: Int)

    public struct Matmul: Hashable, Sendable {
        public var m: Int, n: Int, k: Int
        public var bias: Bool
        public var activation: Activation
    }
    public struct BatchMatmul: Hashable, Sendable {
        public var batch: Int, m: Int, n: Int, k: Int
    }
    /// A convolution; for a depthwise one `outChannels == channels` and `groups == channels`.
    public struct Conv: Hashable, Sendable {
        public var batch: Int, channels: Int, height: Int, width: Int
        public var outChannels: Int, windowHeight: Int, windowWidth: Int
        public var stride: Int, pad: Int, dilation: Int, groups: Int
        public var layout: ConvLayout
        public var outHeight: Int, outWidth: Int
    }
}

extension TaskSpec {
    /// The operator's parameters, typed.
    public var shape: TaskShape {
        func p(_ name: String) -> Int { params.first { $0.name == name }?.value ?? 0 }
        switch op {
        case .matmul:
            return .matmul(.init(m: p("m"), n: p("n"), k: p("k"), bias: p("bias") == 1, activation: Activation(rawValue: p("act")) ?? .none))
        case .batchMatmul:
            return .batchMatmul(.init(batch: p("b"), m: p("m"), n: p("n"), k: p("k")))
        case .conv2d, .depthwiseConv2d:
            let depthwise = op == .depthwiseConv2d
            let c = TaskShape.Conv(batch: p("n"), channels: p("c"), height: p("h"), width: p("w"),
                                   outChannels: depthwise ? p("c") : p("k"), windowHeight: p("r"), windowWidth: p("s"),
                                   stride: p("stride"), pad: p("pad"), dilation: p("dil"), groups: depthwise ? p("c") : p("groups"),
                                   layout: ConvLayout(rawValue: p("layout")) ?? .nchw, outHeight: outputHeight, outWidth: outputWidth)
            return depthwise ? .depthwiseConv2d(c) : .conv2d(c)
        case .softmax:
            return .softmax(rows: p("rows"), cols: p("cols"))
        case .elementwise:
            return .elementwise(n: p("n"), chain: p("chain"))
        }
    }
}
