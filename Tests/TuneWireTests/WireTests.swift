import Testing
import TuneCore
@testable import TuneWire

@Suite struct WireDecoding {
    @Test func roundTripsAMeasureResult() throws {
        let r = MeasureResult(candidateID: 42, status: .ok, samples: [1e-3, 2e-3], compileSeconds: 0.5, errorText: "", detail: ["k": "v"])
        let bytes = Wire.encode(.measureResult(r.wire(batchID: 7)))
        guard case .measureResult(let w) = try Wire.decode(bytes) else { Issue.record("wrong body"); return }
        #expect(w.batchID == 7)
        #expect(try MeasureResult(wire: w) == r)
    }

    @Test func garbageIsMalformedNotACrash() {
        #expect(throws: WireError.self) { try Wire.decode([0xff, 0xff, 0xff, 0x01, 0x02]) }
        let error = #expect(throws: WireError.self) { try Wire.decode([0xff, 0xff, 0xff]) }
        guard case .malformed? = error else { Issue.record("expected malformed, got \(String(describing: error))"); return }
    }

    @Test func oversizedMessagesAreRefusedBeforeDecoding() {
        var limits = WireLimits()
        limits.maxMessageBytes = 100
        #expect(throws: WireError.oversized(bytes: 101, limit: 100)) { try Wire.decode([UInt8](repeating: 0, count: 101), limits: limits) }
    }

    @Test func anotherProtocolVersionIsRefused() {
        let bytes = Wire.encode(.heartbeat(Tunefleet_V1_Heartbeat()), version: 99)
        #expect(throws: WireError.badVersion(got: 99, supported: protocolVersion)) { try Wire.decode(bytes) }
    }

    @Test func anEmptyEnvelopeHasNoBody() {
        var e = Envelope()
        e.protocolVersion = protocolVersion
        #expect(throws: WireError.missingBody) { try Wire.decode(try e.serializedBytes()) }
    }

    @Test func listsBeyondTheLimitsAreRefused() {
        var b = Tunefleet_V1_MeasureBatch()
        b.candidates = Array(repeating: Tunefleet_V1_Candidate(), count: WireLimits.standard.maxCandidatesPerBatch + 1)
        #expect(throws: WireError.self) { try Wire.decode(Wire.encode(.measureBatch(b))) }
    }

    @Test func contentIsRevalidatedByTheCore() throws {
        var t = Tunefleet_V1_TaskSpec()
        t.op = "matmul"
        t.dtype = "f32"
        #expect(throws: WireError.self) { try TaskSpec(wire: t) }
        t.op = "nonsense"
        #expect(throws: WireError.self) { try TaskSpec(wire: t) }
        var p = MeasurePlan().wire
        p.repeats = 0
        #expect(throws: WireError.self) { try MeasurePlan(wire: p) }
        for spread in [Double.nan, -0.1, 1.5, .infinity] {
            var q = MeasurePlan().wire
            q.targetSpread = spread
            #expect(throws: WireError.self) { try MeasurePlan(wire: q) }
        }
        var many = MeasurePlan().wire
        many.maxRepeats = 100_000
        #expect(throws: WireError.self) { try MeasurePlan(wire: many) }
        var r = Tunefleet_V1_MeasureResult()
        r.status = .ok
        #expect(throws: WireError.self) { try MeasureResult(wire: r) }
    }

    /// Adaptive repeats travel with the plan; a coordinator that predates them sets neither
    /// field, which the agent reads as the old fixed count.
    @Test func adaptiveRepeatsSurviveTheWireAndAnOldPeersPlanIsFixed() throws {
        var plan = MeasurePlan()
        plan.targetSpread = 0.03; plan.maxRepeats = 9
        #expect(try MeasurePlan(wire: plan.wire) == plan)
        var old = plan.wire
        old.targetSpread = 0; old.maxRepeats = 0
        let decoded = try MeasurePlan(wire: old)
        #expect(decoded.targetSpread == 0 && decoded.sampleLimit == decoded.repeats)
    }

    @Test func profilesSurviveTheWire() throws {
        var p = DeviceProfile(deviceClass: .cpu, model: "test cpu")
        p.cores = 8; p.vectorBits = 512; p.isa = ["avx2", "avx512f"]; p.l2Bytes = 1 << 20
        let back = try DeviceProfile(wire: p.wire)
        #expect(back == p)
        #expect(back.fingerprint == p.fingerprint)
    }
}
