import TuneCore

public struct CoordinatorSettings: Sendable {
    /// Where agents connect. Default: loopback only.
    public var agentEndpoint = "tcp://127.0.0.1:7700"
    /// Where coordctl connects. Default: loopback only.
    public var controlEndpoint = "tcp://127.0.0.1:7701"
    public var dispatch = DispatchSettings()
    /// Candidates per batch unless a launch says otherwise.
    public var defaultBatchSize = 4
    /// Name sent in Welcome, for logs on the agents.
    public var coordinatorID = "coordd"
    public init() {}
}
