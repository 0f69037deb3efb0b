import SwiftProtobuf
import TuneCore

public typealias Envelope = Tunefleet_V1_Envelope
public typealias Body = Tunefleet_V1_Envelope.OneOf_Body

/// The protocol version this build speaks. A peer with another version is rejected with
/// `REJECT_CODE_BAD_VERSION` naming the supported one.
public let protocolVersion: UInt32 = 1

/// Bounds on what a peer may send; checked before anything acts on a message.
public struct WireLimits: Sendable {
    public var maxMessageBytes = 4 << 20
    public var maxStringBytes = 64 << 10
    public var maxCandidatesPerBatch = 512
    public var maxSamples = 100_000
    public var maxKnobs = 64
    public var maxDetailEntries = 64
    public var maxListEntries = 4096
    /// Names and versions in a hello (agent name, instance, every device-profile string).
    public var maxNameBytes = 256
    /// Entries of a device profile's lists (ISA extensions, compiler flags).
    public var maxProfileListEntries = 256
    /// Any time or rate on the wire: finite, >= 0, at most this.
    public var maxSeconds = 1e6
    public var maxRate = 1e9
    public init() {}
    public static let standard = WireLimits()
}

public enum WireError: Error, Equatable, CustomStringConvertible, Sendable {
    case oversized(bytes: Int, limit: Int)
    case malformed(String)
    case badVersion(got: UInt32, supported: UInt32)
    case missingBody
    case overLimit(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .oversized(let b, let l): return "message of \(b) bytes exceeds the limit of \(l) bytes"
        case .malformed(let m): return "malformed message: \(m)"
        case .badVersion(let g, let s): return "protocol version \(g) is not supported (this side speaks \(s))"
        case .missingBody: return "envelope without a body"
        case .overLimit(let m): return "over limit: \(m)"
        case .invalid(let m): return "invalid content: \(m)"
        }
    }
}

public enum Wire {
    public static func encode(_ body: Body, version: UInt32 = protocolVersion) -> [UInt8] {
        var e = Envelope()
        e.protocolVersion = version
        e.body = body
        return (try? e.serializedBytes()) ?? []
    }

    /// Decodes and checks size, version and bounds. Never traps on hostile input.
    public static func decode(_ bytes: [UInt8], limits: WireLimits = .standard) throws(WireError) -> Body {
        guard bytes.count <= limits.maxMessageBytes else {
            throw .oversized(bytes: bytes.count, limit: limits.maxMessageBytes)
        }
        let e: Envelope
        do { e = try Envelope(serializedBytes: bytes) } catch {
            throw .malformed("\(error)")
        }
        guard e.protocolVersion == protocolVersion else {
            throw .badVersion(got: e.protocolVersion, supported: protocolVersion)
        }
        guard let body = e.body else { throw .missingBody }
        try checkBounds(body, limits)
        return body
    }

    /// The body of a message whose content failed `decode`'s bounds, when its envelope
    /// parses: what a refusal can name (a result's batch and candidate). Never acted on.
    public static func decodeForRefusal(_ bytes: [UInt8], limits: WireLimits = .standard) -> Body? {
        guard bytes.count <= limits.maxMessageBytes, let e = try? Envelope(serializedBytes: bytes),
              e.protocolVersion == protocolVersion else { return nil }
        return e.body
    }

    static func checkBounds(_ body: Body, _ l: WireLimits) throws(WireError) {
        func str(_ s: String, _ what: String) throws(WireError) {
            if s.utf8.count > l.maxStringBytes { throw .overLimit("\(what) longer than \(l.maxStringBytes) bytes") }
        }
        func knobs(_ k: [Tunefleet_V1_Knob], _ what: String) throws(WireError) {
            if k.count > l.maxKnobs { throw .overLimit("\(what): more than \(l.maxKnobs) entries") }
            for x in k { try str(x.name, "\(what) name") }
        }
        switch body {
        case .hello(let h):
            func name(_ s: String, _ what: String) throws(WireError) {
                if s.utf8.count > l.maxNameBytes { throw .overLimit("\(what) longer than \(l.maxNameBytes) bytes") }
            }
            let d = h.device
            try name(h.agentName, "agent name"); try name(h.instanceID, "instance id")
            for (v, what) in [(d.model, "device model"), (d.fingerprint, "fingerprint"), (d.compiler, "compiler"),
                              (d.compilerVersion, "compiler version"), (d.target, "target"), (d.computeCapability, "compute capability"),
                              (d.driverVersion, "driver version")] { try name(v, what) }
            for (list, what) in [(d.isa, "isa list"), (d.compilerFlags, "compiler flags")] {
                if list.count > l.maxProfileListEntries { throw .overLimit("\(what): more than \(l.maxProfileListEntries) entries") }
                for v in list { try name(v, "an entry of the \(what)") }
            }
            for (v, what) in [(d.peakGflops, "peak GFLOPS"), (d.clockMhz, "clock MHz"), (d.memoryBandwidthGbs, "memory bandwidth")] {
                guard v.isFinite, v >= 0, v <= l.maxRate else { throw .invalid("\(what) must be finite and in 0...\(l.maxRate), got \(v)") }
            }
        case .measureBatch(let b):
            if b.candidates.count > l.maxCandidatesPerBatch { throw .overLimit("\(b.candidates.count) candidates in one batch (max \(l.maxCandidatesPerBatch))") }
            try knobs(b.task.params, "task params")
            for c in b.candidates { try knobs(c.schedule, "schedule") }
        case .measureResult(let r):
            if r.samples.count > l.maxSamples { throw .overLimit("\(r.samples.count) samples (max \(l.maxSamples))") }
            try str(r.errorText, "error text")
            if r.detail.count > l.maxDetailEntries { throw .overLimit("detail entries") }
            for (k, v) in r.detail { try str(k, "detail key"); try str(v, "detail value") }
            guard r.compileSeconds.isFinite, r.compileSeconds >= 0, r.compileSeconds <= l.maxSeconds else {
                throw .invalid("compile_seconds must be finite and in 0...\(l.maxSeconds), got \(r.compileSeconds)")
            }
            guard r.samples.allSatisfy({ $0.isFinite && $0 >= 0 && $0 <= l.maxSeconds }) else {
                throw .invalid("samples must be finite and in 0...\(l.maxSeconds) seconds")
            }
        case .reject(let r): try str(r.reason, "reject reason")
        case .goodbye(let g): try str(g.reason, "goodbye reason")
        case .cancelBatches(let c):
            if c.batchIds.count > l.maxListEntries { throw .overLimit("\(c.batchIds.count) batches to cancel (max \(l.maxListEntries))") }
            try str(c.reason, "cancel reason")
        case .controlRequest(let c):
            if case .launch(let launch)? = c.request {
                if launch.tasks.count > l.maxListEntries { throw .overLimit("workload tasks") }
                try str(launch.workloadName, "workload name")
                for t in launch.tasks { try knobs(t.task.params, "task params") }
            }
        default: break
        }
    }
}
