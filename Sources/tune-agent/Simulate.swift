import ArgumentParser
import Foundation
import TuneAgent
import TuneSystem
import TuneTransport

/// `tune-agent sim`: many simulated agents in one process, for load tests of coordd.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run simulated agents: the real protocol and session code, no measurement (each candidate takes --latency-ms and is reported ok). For load tests only: their results are not timings.")

    @Option(help: "The coordinator's agent endpoint.") var coordinator = "tcp://127.0.0.1:7700"
    @Option(help: "Simulated agents.") var count = 8
    @Option(help: "Batches each agent holds at once, measured one after another (a real agent's --slots).") var slots = 1
    @Option(help: "Milliseconds each candidate takes.") var latencyMs = 0.0
    @Option(help: "Agent names: PREFIX-0, PREFIX-1, ...") var namePrefix = "sim"
    @Option(help: "Write the fleet's statistics (JSON) here when stopped (SIGTERM).") var stats: String?
    @Option(help: "The agents' CURVE key pair file.") var key: String?
    @Option(help: "The coordinator's public key: its .pub file or the key itself. Required with --key.") var serverKey: String?

    func validate() throws {
        guard (1...4096).contains(count) else { throw ValidationError("--count must be 1...4096") }
        guard (1...64).contains(slots) else { throw ValidationError("--slots must be 1...64") }
        guard latencyMs >= 0 && latencyMs <= 600_000 else { throw ValidationError("--latency-ms must be 0...600000") }
        if (key == nil) != (serverKey == nil) { throw ValidationError("--key and --server-key go together") }
        guard coordinator.hasPrefix("tcp://") || coordinator.hasPrefix("ipc://") else {
            throw ValidationError("--coordinator must be a tcp:// or ipc:// endpoint, got '\(coordinator)'")
        }
    }

    func run() throws {
        var settings = SimulatedFleet.Settings(endpoint: coordinator, count: count, latency: latencyMs / 1000)
        settings.namePrefix = namePrefix
        settings.slots = slots
        if let key, let serverKey {
            do {
                settings.curve = CurveClientKeys(serverPublicKey: try CurveKeyFile.loadPublic(serverKey), keys: try CurveKeyFile.loadPair(key))
            } catch { throw ValidationError("\(error)") }
        }
        let stop = StopSignal()
        onTerminationSignals { _ in stop.stop() }
        let result = try SimulatedFleet(settings: settings).run(stop: stop)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let text = String(decoding: try enc.encode(result), as: UTF8.self) + "\n"
        if let stats { try writeFile(stats, text) } else { print(text, terminator: "") }
    }
}
