import Testing

@testable import MQTT

/// The receipt rules without I/O: what may be deleted, when unreceipted records are sent again, and when
/// the publisher falls back to the broker's PUBACK (docs/mqtt.md, "End-to-end receipts").
@Suite("Receipt tracker (no I/O)")
struct ReceiptTrackerTests {
    let start = ContinuousClock.now
    let settings = ReceiptSettings(
        mode: .auto, resendAfter: .seconds(60), maximumResendInterval: .seconds(600), gapResendAfter: .seconds(5),
        reconnectSettle: .seconds(3), fallbackAfter: .seconds(900))

    func at(_ seconds: Int) -> ContinuousClock.Instant { start + .seconds(seconds) }

    @Test("without settings, or before any receiver announced receipts, records leave at PUBACK")
    func pubackUntilAnnounced() {
        var none = ReceiptTracker(settings: nil, receiverAnnounced: true, now: start)
        none.acknowledged(through: 5, now: at(1))
        #expect(none.mode == .puback)
        #expect(none.deletableThrough == 5)

        var auto = ReceiptTracker(settings: settings, receiverAnnounced: false, now: start)
        auto.acknowledged(through: 5, now: at(1))
        #expect(auto.mode == .puback)
        #expect(auto.deletableThrough == 5)
        #expect(auto.tick(now: at(10_000)) == nil, "nothing is resent in PUBACK mode")

        var required = ReceiptTracker(settings: ReceiptSettings(mode: .required), receiverAnnounced: false, now: start)
        required.acknowledged(through: 5, now: at(1))
        #expect(required.mode == .receipts)
        #expect(required.deletableThrough == 0)
    }

    @Test("an announcing status or the first receipt switches to receipts: acknowledged records stay until covered")
    func receiptsDecideDeletion() {
        var tracker = ReceiptTracker(settings: settings, receiverAnnounced: false, now: start)
        tracker.receiver(.online(announcesReceipts: true), now: at(0))
        #expect(tracker.receiverAnnounced)
        tracker.acknowledged(through: 10, now: at(1))
        #expect(tracker.deletableThrough == 0)
        #expect(tracker.unreceipted == 10)
        #expect(tracker.receipt(through: 7, highest: 7, lastRecorded: 10, now: at(2)) == .advanced)
        #expect(tracker.deletableThrough == 7)
        #expect(
            tracker.receipt(through: 6, highest: 7, lastRecorded: 10, now: at(3)) == .unchanged,
            "an older receipt changes nothing")
        #expect(tracker.deletableThrough == 7)
        // A receipt for seqs this device never recorded (its outbox was replaced) deletes nothing.
        #expect(tracker.receipt(through: 500, highest: 500, lastRecorded: 10, now: at(4)) == .ignoredAhead)
        #expect(tracker.deletableThrough == 7)
    }

    @Test("no progress for the quiet time sends again what no receipt covers, and the interval doubles")
    func resendAfterQuiet() {
        var tracker = ReceiptTracker(settings: settings, receiverAnnounced: true, now: start)
        tracker.receiver(.online(announcesReceipts: true), now: at(0))
        tracker.acknowledged(through: 10, now: at(0))
        #expect(tracker.tick(now: at(59)) == nil)
        #expect(tracker.nextDeadline() == at(60))
        #expect(tracker.tick(now: at(60)) == .resend(after: 0))
        #expect(tracker.tick(now: at(119)) == nil)
        #expect(tracker.nextDeadline() == at(180), "120 s after the first resend")
        #expect(tracker.tick(now: at(180)) == .resend(after: 0))
        // Progress resets the interval.
        _ = tracker.receipt(through: 4, highest: 4, lastRecorded: 10, now: at(200))
        #expect(tracker.tick(now: at(259)) == nil)
        #expect(tracker.tick(now: at(260)) == .resend(after: 4))
        #expect(tracker.resends == 3)
    }

    @Test("a receipt that shows a gap is answered after the short gap time")
    func gapResend() {
        var tracker = ReceiptTracker(settings: settings, receiverAnnounced: true, now: start)
        tracker.acknowledged(through: 10, now: at(0))
        _ = tracker.receipt(through: 3, highest: 9, lastRecorded: 10, now: at(1))
        #expect(tracker.tick(now: at(5)) == nil)
        #expect(tracker.tick(now: at(6)) == .resend(after: 3))
        // The same old receipt is no reason to send it all again after the short time: the normal
        // interval (doubled by the resend) applies until a new receipt shows the gap again.
        #expect(tracker.tick(now: at(12)) == nil)
        #expect(tracker.tick(now: at(120)) == nil)
        _ = tracker.receipt(through: 3, highest: 10, lastRecorded: 10, now: at(121))
        #expect(tracker.tick(now: at(126)) == .resend(after: 3))
    }

    @Test("after a reconnect, what the broker acknowledged before it and no receipt covers is sent again")
    func resendAfterReconnect() {
        var tracker = ReceiptTracker(settings: settings, receiverAnnounced: true, now: start)
        tracker.receiver(.online(announcesReceipts: true), now: at(0))
        tracker.acknowledged(through: 10, now: at(0))
        _ = tracker.receipt(through: 8, highest: 8, lastRecorded: 10, now: at(1))
        tracker.connected(now: at(20))
        #expect(tracker.tick(now: at(22)) == nil, "the retained receipt may still arrive")
        #expect(tracker.tick(now: at(23)) == .resend(after: 8))
        // If the retained receipt covers everything, nothing is sent again.
        var covered = ReceiptTracker(settings: settings, receiverAnnounced: true, now: start)
        covered.acknowledged(through: 10, now: at(0))
        covered.connected(now: at(20))
        _ = covered.receipt(through: 10, highest: 10, lastRecorded: 10, now: at(21))
        #expect(covered.tick(now: at(23)) == nil)
        #expect(covered.deletableThrough == 10)
    }

    @Test("while the receiver says it is offline, nothing is resent: the broker keeps its queue")
    func offlineReceiver() {
        var tracker = ReceiptTracker(settings: settings, receiverAnnounced: true, now: start)
        tracker.receiver(.offline, now: at(0))
        tracker.acknowledged(through: 10, now: at(0))
        tracker.connected(now: at(1))
        #expect(tracker.tick(now: at(5)) == nil)
        #expect(tracker.tick(now: at(5000)) == nil)
        // It comes back: the quiet time starts then.
        tracker.receiver(.online(announcesReceipts: true), now: at(6000))
        #expect(tracker.tick(now: at(6059)) == nil)
        #expect(tracker.tick(now: at(6060)) == .resend(after: 0))
    }

    @Test("auto falls back to PUBACK when an online receiver sends no receipt for the fallback time, and returns")
    func fallbackAndReturn() {
        var tracker = ReceiptTracker(settings: settings, receiverAnnounced: true, now: start)
        tracker.receiver(.online(announcesReceipts: true), now: at(0))
        tracker.acknowledged(through: 10, now: at(0))
        var resends = 0
        var second = 1
        while second < 900 {
            if tracker.tick(now: at(second)) != nil { resends += 1 }
            second += 1
        }
        #expect(tracker.mode == .receipts)
        #expect(resends == 3, "60, 180, 420 s")
        _ = tracker.tick(now: at(900))
        #expect(tracker.mode == .fallback)
        #expect(tracker.deletableThrough == 10)
        // A receipt brings receipts back.
        tracker.acknowledged(through: 12, now: at(901))
        _ = tracker.receipt(through: 11, highest: 11, lastRecorded: 12, now: at(902))
        #expect(tracker.mode == .receipts)
        #expect(tracker.deletableThrough == 11)
    }

    @Test("auto falls back when the receiver announces no receipts (an older aggregator) for the fallback time")
    func olderReceiver() {
        var tracker = ReceiptTracker(settings: settings, receiverAnnounced: true, now: start)
        tracker.receiver(.online(announcesReceipts: false), now: at(0))
        #expect(tracker.nextDeadline() == at(900))
        #expect(tracker.tick(now: at(899)) == nil)
        _ = tracker.tick(now: at(900))
        #expect(tracker.mode == .fallback)
        // required never falls back.
        var required = ReceiptTracker(settings: ReceiptSettings(mode: .required), receiverAnnounced: true, now: start)
        required.receiver(.online(announcesReceipts: false), now: at(0))
        required.acknowledged(through: 3, now: at(0))
        _ = required.tick(now: at(100_000))
        #expect(required.mode == .receipts)
        #expect(required.deletableThrough == 0)
    }
}
