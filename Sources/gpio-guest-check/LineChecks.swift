import GPIO

/// Outputs, inputs with bias, busy lines, and giving lines back.
extension BackendChecks {
    func runLineChecks() {
        runner.run("output: set and read back through the simulator") {
            try simulator.setPull(0, .pullDown)
            let output = try chip.requestOutput(0, consumer: consumer, initialValue: true)
            try expect(try simulator.level(0), "output requested high reads low in the simulator")
            let info = try chip.lineInfo(0)
            try expect(info.isUsed, "requested output not shown as used")
            try expectEqual(info.consumer, consumer, "consumer of the requested output")
            try expectEqual(info.direction, .output, "direction of the requested output")
            for step in 0..<200 {
                let high = step % 2 == 0
                try output.set(high)
                try expectEqual(try simulator.level(0), high, "simulated level after set(\(high)), step \(step)")
            }
        }

        runner.run("output: requested low drives low against a pull-up") {
            try simulator.setPull(0, .pullUp)
            let output = try chip.requestOutput(0, consumer: consumer, initialValue: false)
            try expectEqual(try simulator.level(0), false, "level of an output requested low")
            output.release()
            try expectEqual(try simulator.level(0), true, "level once released (back to the pull-up)")
            try simulator.setPull(0, .pullDown)
        }

        runner.run("input: reads the level the outside world puts on the line") {
            let input = try chip.requestInput(1, consumer: consumer, bias: .asIs)
            for pull in [SimulatedPull.pullUp, .pullDown, .pullUp, .pullDown] {
                try simulator.setPull(1, pull)
                try expectEqual(try input.get(), pull == .pullUp, "input level with the simulator at \(pull.rawValue)")
            }
        }

        runner.run("input: pull-up bias reaches the pad and reads high") {
            try simulator.setPull(1, .pullDown)
            let input = try chip.requestInput(1, consumer: consumer, bias: .pullUp)
            try expectEqual(try input.get(), true, "input requested with pull-up")
            try expectEqual(try simulator.pull(1), .pullUp, "simulated pull after a pull-up request")
            try expectEqual(try chip.lineInfo(1).bias, .pullUp, "bias the kernel reports")
        }

        runner.run("input: pull-down bias reaches the pad and reads low") {
            try simulator.setPull(1, .pullUp)
            let input = try chip.requestInput(1, consumer: consumer, bias: .pullDown)
            try expectEqual(try input.get(), false, "input requested with pull-down")
            try expectEqual(try simulator.pull(1), .pullDown, "simulated pull after a pull-down request")
            try expectEqual(try chip.lineInfo(1).bias, .pullDown, "bias the kernel reports")
        }

        runner.run("busy: a line the kernel holds, error names chip and line") {
            let error = try expectGPIOError(.busy, "request of the hogged line") {
                try chip.requestInput(layout.hoggedLine, consumer: consumer, bias: .asIs)
            }
            try expect(
                error.description.contains("\(chip.info.name) line \(layout.hoggedLine)")
                    && error.description.contains("EBUSY"),
                "error does not name chip, line and EBUSY: \(error)")
            runner.info("hogged line: \(error)")
        }

        runner.run("busy: a line held through another open of the chip, free again once released") {
            let holder = try chip.requestOutput(2, consumer: consumer, initialValue: false)
            let second = try LibgpiodChip(label: layout.label)
            let error = try expectGPIOError(.busy, "second request of line 2") {
                try second.requestInput(2, consumer: "second-consumer", bias: .asIs)
            }
            try expect(
                error.description.contains("\(chip.info.name) line 2") && error.description.contains("EBUSY"),
                "error does not name chip, line and EBUSY: \(error)")
            runner.info("line held elsewhere: \(error)")
            holder.release()
            let taken = try second.requestInput(2, consumer: "second-consumer", bias: .asIs)
            try expectEqual(try second.lineInfo(2).consumer, "second-consumer", "consumer after the hand-over")
            taken.release()
        }

        runner.run("busy: the same line twice on one chip object") {
            let first = try chip.requestInput(2, consumer: consumer, bias: .asIs)
            let error = try expectGPIOError(.busy, "second request on the same chip object") {
                try chip.requestEvents(2, consumer: consumer, edges: .both, bias: .asIs)
            }
            try expect(error.description.contains("line 2"), "error does not name the line: \(error)")
            first.release()
        }

        runner.run("release() gives the line back and later use is refused") {
            try simulator.setPull(6, .pullDown)
            let output = try chip.requestOutput(6, consumer: consumer, initialValue: true)
            try expectEqual(try simulator.level(6), true, "level while requested high")
            output.release()
            try expect(!(try chip.lineInfo(6).isUsed), "line 6 still in use after release()")
            try expectEqual(try simulator.level(6), false, "level after release (back to the pull-down)")
            let error = try expectGPIOError(.released, "set() after release()") { try output.set(true) }
            try expect(error.description.contains("line 6"), "error does not name the line: \(error)")
            output.release()  // a second release is harmless
            let again = try chip.requestInput(6, consumer: consumer, bias: .asIs)
            again.release()
        }

        runner.run("dropping the last reference releases the line") {
            do {
                let output = try chip.requestOutput(6, consumer: consumer, initialValue: true)
                try expect(try chip.lineInfo(6).isUsed, "line 6 not in use while requested")
                withExtendedLifetime(output) {}
            }
            try expect(!(try chip.lineInfo(6).isUsed), "line 6 still in use after its request was dropped")
        }

        runner.run("a request keeps its chip open after the chip object is dropped") {
            let output = try { () throws -> any GPIOOutputLine in
                let transient = try LibgpiodChip(label: layout.label)
                return try transient.requestOutput(6, consumer: consumer, initialValue: false)
            }()
            try output.set(true)
            try expectEqual(try simulator.level(6), true, "level set through a request whose chip was dropped")
            try expectEqual(output.chip.info.label, layout.label, "label of the request's chip")
            output.release()
        }

        runner.run("output toggle rate (informative)") {
            let output = try chip.requestOutput(0, consumer: consumer, initialValue: false)
            let toggles = 20_000
            let start = chip.clock.nanoseconds()
            for step in 0..<toggles { try output.set(step % 2 == 0) }
            let elapsed = chip.clock.nanoseconds() - start
            runner.info("\(toggles) set() calls in \(elapsed / 1_000_000) ms under qemu (TCG, no KVM)")
        }
    }
}
