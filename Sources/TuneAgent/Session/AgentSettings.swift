import TuneCore
import TuneTransport

/// Everything an agent needs to run; only the executable reads flags and files.
public struct AgentSettings: Sendable {
    /// The coordinator's agent endpoint. Default: loopback.
    public var coordinatorEndpoint = "tcp://127.0.0.1:7700"
    public var name = "agent"
    /// Batches the agent holds at once.
    public var slots = 1
    /// How often each side sends a heartbeat.
    public var heartbeatInterval = 1.0
    /// The coordinator counts as gone after this many silent intervals; the agent reconnects.
    public var peerTimeoutIntervals = 4.0
    /// Where builds happen (a per-agent folder; a cache of compiled kernels lives here).
    public var workDir = "/tmp/tunefleet-agent"
    /// Lock file shared by every agent of this host: measurements exclude compiles and each
    /// other (see HostMeasureLock). nil: no host-wide exclusion (one agent per host).
    public var hostLockPath: String? = "/tmp/tunefleet-host.lock"
    /// CURVE: the coordinator's public key and our own pair (nil: plain TCP, loopback only).
    public var curve: CurveClientKeys?
    public init() {}
}
