import Dispatch
import Testing
import TuneConsole
import TuneSystem
import TuneTransport
import TuneWire

/// A control endpoint that answers status requests from a script, one report per request;
/// after the script it repeats the last report.
final class ScriptedControl: @unchecked Sendable {
    let context = ZMQContext()
    let socket: ZMQSocket
    let endpoint: String
    let stop = StopSignal()
    let finished = DispatchSemaphore(value: 0)

    init(_ script: [Tunefleet_V1_StatusReport]) throws {
        socket = try ZMQSocket(context, .rep)
        endpoint = try socket.bind("tcp://127.0.0.1:*")
        let stop = self.stop, finished = self.finished
        try startThread(name: "scripted-ctl") { [self] in
            var next = 0
            defer { finished.signal() }
            while !stop.isSet {
                guard (try? ZMQPoller.pollInput([self.socket], timeout: 0.05))?.first == true,
                      (try? self.socket.receive(wait: false)) != nil else { continue }
                var reply = Tunefleet_V1_ControlReply()
                reply.status = script[min(next, script.count - 1)]
                next += 1
                _ = try? self.socket.send([Wire.encode(.controlReply(reply))])
            }
        }
    }

    func close() { stop.stop(); finished.wait(); socket.close() }
}

func report(_ campaigns: (id: Int64, state: String, done: UInt32)...) -> Tunefleet_V1_StatusReport {
    var r = Tunefleet_V1_StatusReport()
    r.campaigns = campaigns.map { c in
        var s = Tunefleet_V1_CampaignStatus()
        s.id = c.id; s.state = c.state; s.trialsDone = c.done; s.trialsTotal = 4
        return s
    }
    return r
}

@Suite struct WaitingForACampaign {
    @Test func returnsTheCampaignOnceCompletedAfterShowingEachReport() throws {
        let server = try ScriptedControl([
            report((1, "running", 1)), report((1, "running", 3)), report((1, "completed", 4)),
        ])
        defer { server.close() }
        var seen: [UInt32] = []
        let c = try ControlClient(endpoint: server.endpoint).waitForCampaign(1, timeout: 60, poll: 0, observe: { _, c in
            seen.append(c.trialsDone)
        })
        #expect(c.state == "completed" && c.trialsDone == 4)
        #expect(seen == [1, 3, 4])
    }

    @Test func aCancelledCampaignEndsTheWait() throws {
        let server = try ScriptedControl([report((1, "running", 1)), report((1, "cancelled", 2))])
        defer { server.close() }
        #expect {
            try ControlClient(endpoint: server.endpoint).waitForCampaign(1, timeout: 60, poll: 0)
        } throws: { e in
            if case ControlClient.CampaignWaitError.cancelled(1)? = e as? ControlClient.CampaignWaitError { true } else { false }
        }
    }

    @Test func anUnknownCampaignIsNamed() throws {
        let server = try ScriptedControl([report((2, "running", 1))])
        defer { server.close() }
        #expect {
            try ControlClient(endpoint: server.endpoint).waitForCampaign(1, timeout: 60, poll: 0)
        } throws: { e in
            if case ControlClient.CampaignWaitError.noSuchCampaign(1)? = e as? ControlClient.CampaignWaitError { true } else { false }
        }
    }

    @Test func aCustomConditionAndATimeoutWithTheLastProgress() throws {
        let server = try ScriptedControl([report((1, "running", 1)), report((1, "running", 2))])
        defer { server.close() }
        let client = ControlClient(endpoint: server.endpoint)
        #expect(try client.waitForCampaign(1, timeout: 60, poll: 0, until: { $0.trialsDone >= 2 }).trialsDone == 2)
        #expect {
            try client.waitForCampaign(1, timeout: 0, poll: 0)
        } throws: { e in
            if case ControlClient.CampaignWaitError.timedOut(1, _, let last?)? = e as? ControlClient.CampaignWaitError {
                last.trialsDone == 2
            } else { false }
        }
    }
}
