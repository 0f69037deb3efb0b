import Foundation
import Testing
import TuneConsole
import TuneCore
import TuneStore
import TuneSystem
import TuneTransport
import TuneWire

/// A peer on the allow-list (it holds the agents' key) that speaks protocol v1 well and
/// lies: what it sends must not reach a campaign or the database.
final class RoguePeer {
    let ctx = ZMQContext()
    let socket: ZMQSocket

    init(_ cluster: LocalCluster) throws {
        socket = try ZMQSocket(ctx, .dealer)
        if let k = cluster.keys { try socket.makeCurveClient(CurveClientKeys(serverPublicKey: k.coordinator.publicKey, keys: k.agents)) }
        try socket.connect(cluster.agentEndpoint)
    }

    /// Sends `body` and returns the first answer that is not a heartbeat or a batch.
    func exchange(_ body: Body) throws -> Body? {
        try socket.send([Wire.encode(body)])
        let deadline = Monotonic.now() + 30
        while Monotonic.now() < deadline {
            guard try ZMQPoller.pollInput([socket], timeout: 1)[0], let frames = try socket.receive() else { continue }
            let b = try Wire.decode(frames[0])
            switch b { case .heartbeat, .measureBatch: continue; default: return b }
        }
        return nil
    }

    static func hello(name: String, model: String, deviceClass: Tunefleet_V1_DeviceClass = .cuda, slots: UInt32 = 1,
                      edit: (inout Tunefleet_V1_DeviceProfile) -> Void = { _ in }) -> Body {
        var h = Tunefleet_V1_Hello()
        h.agentName = name
        h.instanceID = name
        h.slots = slots
        h.device.deviceClass = deviceClass
        h.device.model = model
        edit(&h.device)
        return .hello(h)
    }
}

@Suite(.serialized) struct HostilePeers {
    /// Each finding of the hostile-client review, against a running cluster: forged results,
    /// NaN numbers, oversized and NaN profiles, refused hellos writing to the database,
    /// newlines in names reaching the log. The real agent's campaign completes exactly.
    @Test func aWellFormedLiarCannotCorruptACampaignTheDatabaseOrTheLog() throws {
        let cluster = try makeCluster(agents: 1)
        defer { cluster.stopAll() }
        let id = try launch(cluster, try smallWorkload(), trials: 4)

        // 1. A peer welcomed as a CUDA device posts results under a batch id never issued
        //    and for candidates another agent holds: refused, stored nowhere.
        let rogue = try RoguePeer(cluster)
        guard case .welcome? = try rogue.exchange(RoguePeer.hello(name: "rogue", model: "Forged GPU")) else {
            Issue.record("the rogue's hello was not welcomed"); return
        }
        for candidate in Int64(1)...6 {
            var r = Tunefleet_V1_MeasureResult()
            r.batchID = 987_654_321
            r.candidateID = candidate
            r.status = .ok
            r.samples = [1e-9]
            guard case .reject(let refused)? = try rogue.exchange(.measureResult(r)) else {
                Issue.record("a forged result was not refused"); return
            }
            #expect(refused.code == .notYours && refused.candidateID == candidate && refused.batchID == 987_654_321)
        }
        // 2. A NaN compile time is refused before anything is acknowledged.
        var nan = Tunefleet_V1_MeasureResult()
        nan.batchID = 1; nan.candidateID = 1; nan.status = .ok; nan.samples = [1e-3]; nan.compileSeconds = .nan
        guard case .reject(let nanRefused)? = try rogue.exchange(.measureResult(nan)) else { Issue.record("NaN accepted"); return }
        #expect(nanRefused.code == .malformed && nanRefused.reason.contains("compile_seconds"))

        // 3. Profile fields are bounded; 4. nothing of a refused hello reaches the database.
        let huge = String(repeating: "v", count: 3_900_000)
        for (body, why) in [
            (RoguePeer.hello(name: "big", model: "Refused Model A") { $0.compilerVersion = huge }, "compiler version"),
            (RoguePeer.hello(name: "flags", model: "Refused Model B") { $0.compilerFlags = Array(repeating: "-O3", count: 100_000) }, "compiler flags"),
            (RoguePeer.hello(name: "nan", model: "Refused Model C") { $0.peakGflops = .nan }, "peak GFLOPS"),
            (RoguePeer.hello(name: "zero", model: "Refused Model D", slots: 0), "slots"),
        ] {
            let peer = try RoguePeer(cluster)
            guard case .reject(let r)? = try peer.exchange(body) else { Issue.record("hello with bad \(why) was not refused"); continue }
            #expect(r.reason.contains(why), "\(r.reason)")
        }

        // 6. A name with a newline cannot forge a log line.
        let liar = try RoguePeer(cluster)
        guard case .welcome? = try liar.exchange(RoguePeer.hello(name: "liar\nINJECTED coordd: all results deleted", model: "Liar GPU")) else {
            Issue.record("the liar's hello was not welcomed"); return
        }

        let done = try waitFor(cluster, campaign: id) { $0.state == "completed" }
        #expect(done.trialsDone == done.trialsTotal)
        let store = try Store(readOnlyPath: cluster.databasePath)
        let models = Set(try store.deviceProfiles().values.map(\.model))
        #expect(models.contains("Forged GPU") && models.contains("Liar GPU"), "welcomed peers are recorded")
        #expect(models.isDisjoint(with: ["Refused Model A", "Refused Model B", "Refused Model C", "Refused Model D"]),
                "refused hellos stored nothing: \(models.sorted())")
        let exported = try store.export(campaign: id)
        #expect(exported.count == Int(done.trialsTotal), "one record per candidate")
        #expect(!exported.contains { $0.agent == "rogue" }, "nothing stored from the rogue")
        let log = String(decoding: readFile(cluster.settings.dir + "/coordd.log") ?? [], as: UTF8.self)
        #expect(!log.split(separator: "\n").contains { $0.hasPrefix("INJECTED") }, "peer text is escaped in the log")
        #expect(log.contains("liar\\nINJECTED"))
        let refusals = cluster.events().filter { if case .resultRefused = $0 { return true }; return false }
        #expect(refusals.count == 7)
    }
}
