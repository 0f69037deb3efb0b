/// A task with its weight in a network (how many times the network runs it).
public struct WeightedTask: Hashable, Codable, Sendable {
    public var task: TaskSpec
    public var weight: Int
    public init(_ task: TaskSpec, weight: Int) { self.task = task; self.weight = weight }
}

/// The weighted tasks of a real network (or a user's list).
public struct Workload: Hashable, Codable, Sendable {
    public var name: String
    public var tasks: [WeightedTask]
    public init(name: String, tasks: [WeightedTask]) { self.name = name; self.tasks = tasks }
}

public struct WorkloadError: Error, Equatable, CustomStringConvertible, Sendable {
    public var line: Int
    public var message: String
    public var description: String { line > 0 ? "line \(line): \(message)" : message }
}

/// The workload file format, one task a line:
///
///     # ResNet-50 fully connected layer, run once per image
///     name: my-network
///     1 matmul m=1 n=1000 k=2048 bias=1
///     12 matmul m=128 n=3072 k=768 bias=1 act=gelu
///     3 conv2d c=64 h=56 w=56 k=64 r=3 s=3 pad=1 layout=nchw
///
/// A line is `WEIGHT OPERATOR key=value...`; `#` starts a comment; `name:` names the
/// workload. Values are integers, except `act` (none|relu|gelu), `layout` (nchw|nhwc) and
/// `dtype` (f32).
public enum WorkloadFile {
    public static func parse(_ text: String, defaultName: String) throws(WorkloadError) -> Workload {
        var name = defaultName
        var tasks: [WeightedTask] = []
        var seen: [TaskSpec: Int] = [:]
        var lineNo = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            var line = Substring(raw)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if words.isEmpty { continue }
            if words[0] == "name:" {
                guard words.count == 2 else { throw WorkloadError(line: lineNo, message: "'name:' takes one word") }
                name = String(words[1]); continue
            }
            guard let weight = Int(words[0]), weight > 0 else {
                throw WorkloadError(line: lineNo, message: "expected a positive weight first, got '\(words[0])'")
            }
            guard words.count >= 2 else { throw WorkloadError(line: lineNo, message: "missing operator after the weight") }
            guard let op = OperatorKind(rawValue: String(words[1])) else {
                throw WorkloadError(line: lineNo, message: "unknown operator '\(words[1])' (known: \(OperatorKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            var params: [String: Int] = [:]
            var dtype = DType.f32
            for w in words.dropFirst(2) {
                let kv = w.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { throw WorkloadError(line: lineNo, message: "expected key=value, got '\(w)'") }
                let key = String(kv[0]), value = String(kv[1])
                if params[key] != nil { throw WorkloadError(line: lineNo, message: "'\(key)' given twice") }
                switch key {
                case "dtype":
                    guard let d = DType(rawValue: value) else { throw WorkloadError(line: lineNo, message: "unknown dtype '\(value)'") }
                    dtype = d
                case "act" where Int(value) == nil:
                    guard let a = Activation(name: value) else { throw WorkloadError(line: lineNo, message: "unknown activation '\(value)' (none, relu, gelu)") }
                    params[key] = a.rawValue
                case "layout" where Int(value) == nil:
                    switch value {
                    case "nchw": params[key] = ConvLayout.nchw.rawValue
                    case "nhwc": params[key] = ConvLayout.nhwc.rawValue
                    default: throw WorkloadError(line: lineNo, message: "unknown layout '\(value)' (nchw, nhwc)")
                    }
                default:
                    guard let v = Int(value) else { throw WorkloadError(line: lineNo, message: "'\(key)' must be an integer, got '\(value)'") }
                    params[key] = v
                }
            }
            let task: TaskSpec
            do { task = try TaskSpec(op: op, params: params, dtype: dtype) } catch {
                throw WorkloadError(line: lineNo, message: error.description)
            }
            if let i = seen[task] { tasks[i].weight += weight; continue }
            seen[task] = tasks.count
            tasks.append(WeightedTask(task, weight: weight))
        }
        if tasks.isEmpty { throw WorkloadError(line: 0, message: "workload '\(name)' has no tasks") }
        return Workload(name: name, tasks: tasks)
    }
}

/// Built-in workloads of real networks at batch 1, by name.
public enum BuiltinWorkloads {
    public static var names: [String] { sources.map(\.0) }

    public static func named(_ name: String) -> Workload? {
        guard let text = sources.first(where: { $0.0 == name })?.1 else { return nil }
        return try? WorkloadFile.parse(text, defaultName: name)
    }

    static let sources: [(String, String)] = [
        ("demo", """
        # Dense layers of BERT-base (sequence 128) and ResNet-50's classifier, scaled for a
        # quick demo on a small machine.
        name: demo
        24 matmul m=128 n=768 k=768 bias=1
        1 matmul m=1 n=1000 k=2048 bias=1
        12 matmul m=128 n=3072 k=768 bias=1 act=gelu
        """),
        ("bert-base", """
        # BERT-base, sequence 128, batch 1: per layer QKV and output projections, FFN, attention.
        name: bert-base
        48 matmul m=128 n=768 k=768 bias=1
        12 matmul m=128 n=3072 k=768 bias=1 act=gelu
        12 matmul m=128 n=768 k=3072 bias=1
        12 batch_matmul b=12 m=128 n=128 k=64
        12 batch_matmul b=12 m=128 n=64 k=128
        12 softmax rows=1536 cols=128
        """),
        ("resnet50", """
        # ResNet-50 v1.5 (stride on the 3x3 convolutions), 224x224, batch 1, NCHW. Weights
        # are occurrences; downsampling 1x1 convolutions are listed with their stage.
        name: resnet50
        1 conv2d c=3 h=224 w=224 k=64 r=7 s=7 stride=2 pad=3
        1 conv2d c=64 h=56 w=56 k=64 r=1 s=1
        3 conv2d c=64 h=56 w=56 k=64 r=3 s=3 pad=1
        4 conv2d c=64 h=56 w=56 k=256 r=1 s=1
        2 conv2d c=256 h=56 w=56 k=64 r=1 s=1
        1 conv2d c=256 h=56 w=56 k=128 r=1 s=1
        1 conv2d c=128 h=56 w=56 k=128 r=3 s=3 stride=2 pad=1
        4 conv2d c=128 h=28 w=28 k=512 r=1 s=1
        1 conv2d c=256 h=56 w=56 k=512 r=1 s=1 stride=2
        3 conv2d c=512 h=28 w=28 k=128 r=1 s=1
        3 conv2d c=128 h=28 w=28 k=128 r=3 s=3 pad=1
        1 conv2d c=512 h=28 w=28 k=256 r=1 s=1
        1 conv2d c=256 h=28 w=28 k=256 r=3 s=3 stride=2 pad=1
        6 conv2d c=256 h=14 w=14 k=1024 r=1 s=1
        1 conv2d c=512 h=28 w=28 k=1024 r=1 s=1 stride=2
        5 conv2d c=1024 h=14 w=14 k=256 r=1 s=1
        5 conv2d c=256 h=14 w=14 k=256 r=3 s=3 pad=1
        1 conv2d c=1024 h=14 w=14 k=512 r=1 s=1
        1 conv2d c=512 h=14 w=14 k=512 r=3 s=3 stride=2 pad=1
        3 conv2d c=512 h=7 w=7 k=2048 r=1 s=1
        1 conv2d c=1024 h=14 w=14 k=2048 r=1 s=1 stride=2
        2 conv2d c=2048 h=7 w=7 k=512 r=1 s=1
        2 conv2d c=512 h=7 w=7 k=512 r=3 s=3 pad=1
        1 matmul m=1 n=1000 k=2048 bias=1
        """),
        ("mobilenetv2", """
        # MobileNet-V2 1.0, 224x224, batch 1, NCHW: stem, 17 inverted-residual blocks
        # (1x1 expand, 3x3 depthwise, 1x1 project), last 1x1 and the classifier.
        name: mobilenetv2
        1 conv2d c=3 h=224 w=224 k=32 r=3 s=3 stride=2 pad=1
        1 depthwise_conv2d c=32 h=112 w=112 r=3 s=3 pad=1
        1 conv2d c=32 h=112 w=112 k=16 r=1 s=1
        1 conv2d c=16 h=112 w=112 k=96 r=1 s=1
        1 depthwise_conv2d c=96 h=112 w=112 r=3 s=3 stride=2 pad=1
        1 conv2d c=96 h=56 w=56 k=24 r=1 s=1
        2 conv2d c=24 h=56 w=56 k=144 r=1 s=1
        1 depthwise_conv2d c=144 h=56 w=56 r=3 s=3 pad=1
        1 conv2d c=144 h=56 w=56 k=24 r=1 s=1
        1 depthwise_conv2d c=144 h=56 w=56 r=3 s=3 stride=2 pad=1
        1 conv2d c=144 h=28 w=28 k=32 r=1 s=1
        3 conv2d c=32 h=28 w=28 k=192 r=1 s=1
        2 depthwise_conv2d c=192 h=28 w=28 r=3 s=3 pad=1
        2 conv2d c=192 h=28 w=28 k=32 r=1 s=1
        1 depthwise_conv2d c=192 h=28 w=28 r=3 s=3 stride=2 pad=1
        1 conv2d c=192 h=14 w=14 k=64 r=1 s=1
        4 conv2d c=64 h=14 w=14 k=384 r=1 s=1
        4 depthwise_conv2d c=384 h=14 w=14 r=3 s=3 pad=1
        3 conv2d c=384 h=14 w=14 k=64 r=1 s=1
        1 conv2d c=384 h=14 w=14 k=96 r=1 s=1
        3 conv2d c=96 h=14 w=14 k=576 r=1 s=1
        2 depthwise_conv2d c=576 h=14 w=14 r=3 s=3 pad=1
        2 conv2d c=576 h=14 w=14 k=96 r=1 s=1
        1 depthwise_conv2d c=576 h=14 w=14 r=3 s=3 stride=2 pad=1
        1 conv2d c=576 h=7 w=7 k=160 r=1 s=1
        3 conv2d c=160 h=7 w=7 k=960 r=1 s=1
        3 depthwise_conv2d c=960 h=7 w=7 r=3 s=3 pad=1
        2 conv2d c=960 h=7 w=7 k=160 r=1 s=1
        1 conv2d c=960 h=7 w=7 k=320 r=1 s=1
        1 conv2d c=320 h=7 w=7 k=1280 r=1 s=1
        1 matmul m=1 n=1000 k=1280 bias=1
        """),
        ("efficientnetb0", """
        # EfficientNet-B0, 224x224, batch 1, NCHW: stem, 16 MBConv blocks (1x1 expand, 3x3 or
        # 5x5 depthwise, 1x1 project; the first block has no expansion), last 1x1 and the
        # classifier. Left out: each block's squeeze-and-excitation (a global pooling and two
        # matrix-vector products, well under 1% of the FLOPs) and the swish activations, which
        # are not an epilogue of ours. Stem, first blocks and head share MobileNet-V2's shapes;
        # the 5x5 depthwise layers and the 40/80/112/192-channel stages are its own.
        name: efficientnetb0
        1 conv2d c=3 h=224 w=224 k=32 r=3 s=3 stride=2 pad=1
        1 depthwise_conv2d c=32 h=112 w=112 r=3 s=3 pad=1
        1 conv2d c=32 h=112 w=112 k=16 r=1 s=1
        1 conv2d c=16 h=112 w=112 k=96 r=1 s=1
        1 depthwise_conv2d c=96 h=112 w=112 r=3 s=3 stride=2 pad=1
        1 conv2d c=96 h=56 w=56 k=24 r=1 s=1
        2 conv2d c=24 h=56 w=56 k=144 r=1 s=1
        1 depthwise_conv2d c=144 h=56 w=56 r=3 s=3 pad=1
        1 conv2d c=144 h=56 w=56 k=24 r=1 s=1
        1 depthwise_conv2d c=144 h=56 w=56 r=5 s=5 stride=2 pad=2
        1 conv2d c=144 h=28 w=28 k=40 r=1 s=1
        2 conv2d c=40 h=28 w=28 k=240 r=1 s=1
        1 depthwise_conv2d c=240 h=28 w=28 r=5 s=5 pad=2
        1 conv2d c=240 h=28 w=28 k=40 r=1 s=1
        1 depthwise_conv2d c=240 h=28 w=28 r=3 s=3 stride=2 pad=1
        1 conv2d c=240 h=14 w=14 k=80 r=1 s=1
        3 conv2d c=80 h=14 w=14 k=480 r=1 s=1
        2 depthwise_conv2d c=480 h=14 w=14 r=3 s=3 pad=1
        2 conv2d c=480 h=14 w=14 k=80 r=1 s=1
        1 depthwise_conv2d c=480 h=14 w=14 r=5 s=5 pad=2
        1 conv2d c=480 h=14 w=14 k=112 r=1 s=1
        3 conv2d c=112 h=14 w=14 k=672 r=1 s=1
        2 depthwise_conv2d c=672 h=14 w=14 r=5 s=5 pad=2
        2 conv2d c=672 h=14 w=14 k=112 r=1 s=1
        1 depthwise_conv2d c=672 h=14 w=14 r=5 s=5 stride=2 pad=2
        1 conv2d c=672 h=7 w=7 k=192 r=1 s=1
        4 conv2d c=192 h=7 w=7 k=1152 r=1 s=1
        3 depthwise_conv2d c=1152 h=7 w=7 r=5 s=5 pad=2
        3 conv2d c=1152 h=7 w=7 k=192 r=1 s=1
        1 depthwise_conv2d c=1152 h=7 w=7 r=3 s=3 pad=1
        1 conv2d c=1152 h=7 w=7 k=320 r=1 s=1
        1 conv2d c=320 h=7 w=7 k=1280 r=1 s=1
        1 matmul m=1 n=1000 k=1280 bias=1
        """),
        ("inceptionv3", """
        # Inception-v3, 299x299, batch 1, NCHW (no auxiliary head). Tasks have one `pad` for
        # both axes, so the 1x7/7x1 (and 1x3/3x1) convolutions, padded along one axis only,
        # are written with that padding folded into the input (w=23 for 1x7 on 17x17): same
        # output, same FLOPs.
        name: inceptionv3
        1 conv2d c=3 h=299 w=299 k=32 r=3 s=3 stride=2
        1 conv2d c=32 h=149 w=149 k=32 r=3 s=3
        1 conv2d c=32 h=147 w=147 k=64 r=3 s=3 pad=1
        1 conv2d c=64 h=73 w=73 k=80 r=1 s=1
        1 conv2d c=80 h=73 w=73 k=192 r=3 s=3
        # Mixed_5b/5c/5d (35x35) and Mixed_6a (35 -> 17)
        2 conv2d c=192 h=35 w=35 k=64 r=1 s=1
        1 conv2d c=192 h=35 w=35 k=48 r=1 s=1
        1 conv2d c=192 h=35 w=35 k=32 r=1 s=1
        3 conv2d c=256 h=35 w=35 k=64 r=1 s=1
        1 conv2d c=256 h=35 w=35 k=48 r=1 s=1
        4 conv2d c=288 h=35 w=35 k=64 r=1 s=1
        1 conv2d c=288 h=35 w=35 k=48 r=1 s=1
        3 conv2d c=48 h=35 w=35 k=64 r=5 s=5 pad=2
        4 conv2d c=64 h=35 w=35 k=96 r=3 s=3 pad=1
        3 conv2d c=96 h=35 w=35 k=96 r=3 s=3 pad=1
        1 conv2d c=288 h=35 w=35 k=384 r=3 s=3 stride=2
        1 conv2d c=96 h=35 w=35 k=96 r=3 s=3 stride=2
        # Mixed_6b..6e (17x17, c7 = 128, 160, 160, 192) and Mixed_7a (17 -> 8)
        12 conv2d c=768 h=17 w=17 k=192 r=1 s=1
        2 conv2d c=768 h=17 w=17 k=128 r=1 s=1
        2 conv2d c=128 h=17 w=23 k=128 r=1 s=7
        2 conv2d c=128 h=23 w=17 k=128 r=7 s=1
        1 conv2d c=128 h=23 w=17 k=192 r=7 s=1
        1 conv2d c=128 h=17 w=23 k=192 r=1 s=7
        4 conv2d c=768 h=17 w=17 k=160 r=1 s=1
        4 conv2d c=160 h=17 w=23 k=160 r=1 s=7
        4 conv2d c=160 h=23 w=17 k=160 r=7 s=1
        2 conv2d c=160 h=23 w=17 k=192 r=7 s=1
        2 conv2d c=160 h=17 w=23 k=192 r=1 s=7
        4 conv2d c=192 h=17 w=23 k=192 r=1 s=7
        4 conv2d c=192 h=23 w=17 k=192 r=7 s=1
        1 conv2d c=192 h=17 w=17 k=320 r=3 s=3 stride=2
        1 conv2d c=192 h=17 w=17 k=192 r=3 s=3 stride=2
        # Mixed_7b (in 1280) and Mixed_7c (in 2048), 8x8
        1 conv2d c=1280 h=8 w=8 k=320 r=1 s=1
        1 conv2d c=1280 h=8 w=8 k=384 r=1 s=1
        1 conv2d c=1280 h=8 w=8 k=448 r=1 s=1
        1 conv2d c=1280 h=8 w=8 k=192 r=1 s=1
        1 conv2d c=2048 h=8 w=8 k=320 r=1 s=1
        1 conv2d c=2048 h=8 w=8 k=384 r=1 s=1
        1 conv2d c=2048 h=8 w=8 k=448 r=1 s=1
        1 conv2d c=2048 h=8 w=8 k=192 r=1 s=1
        4 conv2d c=384 h=8 w=10 k=384 r=1 s=3
        4 conv2d c=384 h=10 w=8 k=384 r=3 s=1
        2 conv2d c=448 h=8 w=8 k=384 r=3 s=3 pad=1
        1 matmul m=1 n=1000 k=2048 bias=1
        """),
    ]
}
