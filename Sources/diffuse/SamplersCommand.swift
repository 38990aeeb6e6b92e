// Contract: `diffuse samplers` — lists every sampler the registry knows with its names in
// k-diffusion, AUTOMATIC1111, ComfyUI and diffusers, order, evaluations per step and update
// rule; `--markdown` prints the table docs/samplers.md embeds (a test keeps the two equal).

import ArgumentParser
import Diffusion

struct SamplersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samplers",
        abstract: "List the samplers (names in every ecosystem, order, NFE per step, update rule).")

    @Flag(help: "Print the Markdown table of docs/samplers.md, with its markers.")
    var markdown = false

    func run() throws {
        if markdown {
            print(SamplerRegistry.tableMarkers.begin)
            print(SamplerRegistry.markdownTable())
            print(SamplerRegistry.tableMarkers.end)
            return
        }
        for name in SamplerName.allCases {
            print("\(name.rawValue.padding(toLength: 20, withPad: " ", startingAt: 0)) order \(name.order), \(name.evaluationsPerStep) NFE/step\(name.isStochastic ? ", stochastic" : ""): \(name.updateRule)")
        }
    }
}
