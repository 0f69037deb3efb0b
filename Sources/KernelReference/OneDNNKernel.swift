import COneDNN
import TuneCore

/// oneDNN's primitive for a task, as a user of the library deploys it: its own algorithm
/// choice and the layouts it prefers (`format_tag::any`), weights (and activations, where it
/// wants another layout) reordered in `prepare`, outside the timed region, as a model does
/// once per weight and per layer boundary; `run` is the primitive alone. Matmul and batch
/// matmul (bias and activation as post-ops), conv2d and depthwise conv2d, softmax, and
/// elementwise chains (a binary primitive with post-ops).
public final class OneDNNKernel: VendorRoutine {
    public let library = "onednn"
    public let routine: String
    private let op: OpaquePointer

    public struct Unavailable: Error, CustomStringConvertible { public var description: String }

    public init(task: TaskSpec, threads: Int) throws(Unavailable) {
        var err = [CChar](repeating: 0, count: 256)
        let t = task, th = Int32(max(1, threads))
        let made: OpaquePointer? = err.withUnsafeMutableBufferPointer { e in
            let buf = e.baseAddress!, len = e.count
            switch t.op {
            case .matmul:
                return tf_dnnl_matmul(0, t["m"], t["n"], t["k"], Int32(t["bias"]), Int32(t["act"]), th, buf, len)
            case .batchMatmul:
                return tf_dnnl_matmul(t["b"], t["m"], t["n"], t["k"], 0, 0, th, buf, len)
            case .conv2d, .depthwiseConv2d:
                let dw = t.op == .depthwiseConv2d
                return tf_dnnl_conv(t["n"], t["c"], t["h"], t["w"], dw ? t["c"] : t["k"], t["r"], t["s"], t["stride"], t["pad"],
                                    t["dil"], dw ? t["c"] : t["groups"], t["layout"] == ConvLayout.nhwc.rawValue ? 1 : 0,
                                    dw ? 1 : 0, t.outputHeight, t.outputWidth, th, buf, len)
            case .softmax:
                return tf_dnnl_softmax(t["rows"], t["cols"], th, buf, len)
            case .elementwise:
                return tf_dnnl_elementwise(t["n"], Int32(t["chain"]), th, buf, len)
            }
        }
        guard let made else {
            throw Unavailable(description: "onednn: " + String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        op = made
        routine = String(cString: tf_dnnl_impl(made))
    }

    deinit { tf_dnnl_free(op) }

    public static var version: String { String(cString: tf_dnnl_version()) }

    public func prepare(_ args: UnsafePointer<UnsafeMutablePointer<Float>>) -> Int32 {
        args.withMemoryRebound(to: UnsafeMutablePointer<Float>?.self, capacity: 1) { tf_dnnl_prepare(op, $0) }
    }

    public func run(_ args: UnsafePointer<UnsafeMutablePointer<Float>>) -> Int32 { tf_dnnl_execute(op) }

    public func finish(_ args: UnsafePointer<UnsafeMutablePointer<Float>>) -> Int32 { tf_dnnl_finish(op) }

    public var detail: [String: String] { ["onednn_version": Self.version, "onednn_impl": routine] }
}
