import Testing
@testable import TuneTransport

@Suite struct ZeroMQSockets {
    @Test func routerAndDealerExchangeOnAnEphemeralLoopbackPort() throws {
        let ctx = ZMQContext()
        let router = try ZMQSocket(ctx, .router)
        let endpoint = try router.bind("tcp://127.0.0.1:*")
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        #expect(!endpoint.hasSuffix(":*"))
        let dealer = try ZMQSocket(ctx, .dealer)
        try dealer.setIdentity("agent-1")
        try dealer.connect(endpoint)
        try dealer.send([[1, 2, 3]])
        #expect(try ZMQPoller.pollInput([router], timeout: 10) == [true])
        let frames = try router.receive()
        #expect(frames == [Array("agent-1".utf8), [1, 2, 3]])
        try router.send([Array("agent-1".utf8), [9]])
        #expect(try ZMQPoller.pollInput([dealer], timeout: 10) == [true])
        #expect(try dealer.receive() == [[9]])
    }

    @Test func nonBlockingReceiveOnAnEmptySocketReturnsNil() throws {
        let ctx = ZMQContext()
        let s = try ZMQSocket(ctx, .router)
        try s.bind("tcp://127.0.0.1:*")
        #expect(try s.receive(wait: false) == nil)
    }

    @Test func errorsKeepTheFunctionAndErrno() throws {
        let ctx = ZMQContext()
        let s = try ZMQSocket(ctx, .router)
        do {
            try s.bind("bogus://endpoint")
            Issue.record("bind should fail")
        } catch {
            #expect(error.function.hasPrefix("zmq_bind"))
            #expect(error.errno != 0)
        }
    }

    @Test func curveKeysAreGenerated() throws {
        #expect(ZMQContext.hasCurve)
        let k = try CurveKeyPair.generate()
        #expect(k.publicKey.count == 40 && k.secretKey.count == 40)
        #expect(try CurveKeyPair.publicKey(forSecret: k.secretKey) == k.publicKey)
    }
}
