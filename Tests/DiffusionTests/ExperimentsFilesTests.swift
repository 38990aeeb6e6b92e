// Tests of the lesson-06 files: the mixture JSON format and its errors, the CSV writer and the
// exact layout of trajectories.csv.
import Diffusion
import DiffusionStudies
import Foundation
import Tensor
import Testing

@Suite("Experiments: mixture JSON")
struct MixtureFileTests {
    @Test("a valid file parses and its weights are normalized")
    func valid() throws {
        let json = #"{"weights": [1, 3], "means": [[-1, 0.5], [2, 0]], "stds": [0.1, 0.25]}"#
        let mixture = try GaussianMixture(json: Data(json.utf8))
        #expect(mixture.weights == [0.25, 0.75])
        #expect(mixture.means == [[-1, 0.5], [2, 0]])
        #expect(mixture.stds == [0.1, 0.25])
        #expect(mixture.dimension == 2)
        #expect(try GaussianMixture(json: mixture.jsonData()) == mixture)
    }

    static let malformedExamples: [(json: String, mentions: String)] = [
        (#"{"weights": [1], "means": [[0, 0]], "stds": [0.1]"#, "malformed mixture JSON"),
        (#"{"weights": [1], "means": [[0, 0]]}"#, "\"stds\" is missing"),
        (#"{"weights": ["a"], "means": [[0, 0]], "stds": [0.1]}"#, "weights"),
        (#"{"weights": [1, 1], "means": [[0, 0]], "stds": [0.1, 0.1]}"#, "2 weights, 1 means and 2 stds"),
        (#"{"weights": [1, 1], "means": [[0, 0], [1]], "stds": [0.1, 0.1]}"#, "mean 1 has 1 coordinates"),
        (#"{"weights": [1, 0], "means": [[0, 0], [1, 1]], "stds": [0.1, 0.1]}"#, "weights[1] is 0.0"),
        (#"{"weights": [1, 1], "means": [[0, 0], [1, 1]], "stds": [0.1, -2]}"#, "stds[1] is -2.0"),
        (#"{"weights": [], "means": [], "stds": []}"#, "no components"),
        (#"[1, 2, 3]"#, "malformed mixture JSON"),
    ]

    @Test("malformed mixtures are clear errors", arguments: malformedExamples)
    func malformedIsClearError(_ example: (json: String, mentions: String)) {
        do {
            _ = try GaussianMixture(json: Data(example.json.utf8))
            Issue.record("accepted \(example.json)")
        } catch let error as MixtureFileError {
            #expect(error.description.contains(example.mentions), "\(error.description)")
        } catch {
            Issue.record("unexpected error type \(error)")
        }
    }

    @Test("a missing file names its path")
    func missingFile() {
        let url = URL(fileURLWithPath: "/nonexistent/mixture-\(UUID().uuidString).json")
        #expect {
            _ = try GaussianMixture(contentsOf: url)
        } throws: { error in
            (error as? MixtureFileError)?.description.contains(url.path) == true
        }
    }
}

@Suite("Experiments: trajectories.csv")
struct TrajectoryCSVTests {
    @Test("trajectories.csv: header, one row per sampler, sample and step, empty denoised at sigma 0")
    func trajectoryLayout() throws {
        var trajectory = Trajectory(sampler: "euler")
        let x0 = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        trajectory.record(step: 0, sigma: 10, x: x0, denoised: x0 * 0.5)
        let x1 = Tensor(shape: [2, 2], scalars: [0.5, 1, 1.5, 2])
        trajectory.record(step: 1, sigma: 1, x: x1, denoised: x1 * 0.25)
        trajectory.finish(x: Tensor(shape: [2, 2], scalars: [0.25, 0.5, 0.75, 1]))
        let text = Trajectory.table([trajectory]).text
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "sampler,sample,step,sigma,x,y,denoised_x,denoised_y")
        #expect(lines[1] == "euler,0,0,10.0,1.0,2.0,0.5,1.0")
        #expect(lines[2] == "euler,0,1,1.0,0.5,1.0,0.125,0.25")
        #expect(lines[3] == "euler,0,2,0.0,0.25,0.5,,")
        #expect(lines[4] == "euler,1,0,10.0,3.0,4.0,1.5,2.0")
        #expect(lines[6] == "euler,1,2,0.0,0.75,1.0,,")
        #expect(lines.count == 8 && lines[7].isEmpty)
    }
}
