// PNG through libpng: tiny images of every color type written by Pillow (pixels listed in
// Fixtures/png.json), the real photographs in ../shared/images, write/read round trips, the
// grid helper against hand-placed pixels, and corrupt, truncated and non-PNG inputs.

import Foundation
import Testing
import Tensor

private struct PNGFixture: Decodable {
    let mode: String
    let shape: [Int]
    let bytes: [Int]
    static let all: [String: PNGFixture] = {
        let data = try! Data(contentsOf: TestData.fixture("png.json"))
        return try! JSONDecoder().decode([String: PNGFixture].self, from: data)
    }()
}

@Suite("PNG: libpng read/write and image grids")
struct PNGTests {
    @Test("reads every color type as Pillow sees it", arguments: ["gray", "gray_alpha", "rgb", "rgba", "palette", "palette_alpha"])
    func colorTypes(name: String) throws {
        let expected = PNGFixture.all[name]!
        let image = try PNG.read(TestData.fixture("png_\(name).png"))
        #expect(image.shape == expected.shape)
        #expect(image.scalars == expected.bytes.map { Float($0) / 255 })
    }

    @Test("write then read gives back the 8-bit values, for 1 to 4 channels", arguments: 1...4)
    func roundTrip(channels: Int) throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var rng = Xoshiro256StarStar(seed: UInt64(channels))
        let image = rng.rand([channels, 7, 9])
        let url = folder.appendingPathComponent("x.png")
        try PNG.write(image, to: url)
        let back = try PNG.read(url)
        #expect(back.shape == [channels, 7, 9])
        #expect(back.scalars == image.scalars.map { ($0 * 255).rounded() / 255 })
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["x.png"])
    }

    @Test("values are clamped to [0, 1] and rounded; NaN becomes 0")
    func clamping() throws {
        let image = Tensor(shape: [1, 1, 6], scalars: [-1, 2, 0.5, .nan, 1.0 / 510 + 1e-4, 0.3])
        let back = try PNG.decode(PNG.encode(image))
        let bytes: [Float] = [0, 255, 128, 0, 1, 77]
        #expect(back.scalars == bytes.map { $0 / 255 })
    }

    @Test("a non-contiguous view is written in logical order")
    func viewsAreWrittenLogically() throws {
        let hwc = Tensor(shape: [2, 3, 3], scalars: (0..<18).map { Float($0) / 17 })
        let chw = hwc.permuted([2, 0, 1])
        let back = try PNG.decode(PNG.encode(chw))
        #expect(back.scalars == chw.scalars.map { ($0 * 255).rounded() / 255 })
    }

    @Test("reads the shared photographs (RGB astronaut, gray camera)", .enabled(if: TestData.hasShared, TestData.sharedSkipMessage))
    func sharedPhotos() throws {
        let shared = try #require(TestData.sharedFolder)
        let astronaut = try PNG.read(shared.appendingPathComponent("images/astronaut.png"))
        #expect(astronaut.shape == [3, 512, 512])
        let camera = try PNG.read(shared.appendingPathComponent("images/camera.png"))
        #expect(camera.shape == [1, 512, 512])
        for image in [astronaut, camera] {
            let values = image.scalars
            #expect(values.allSatisfy { $0 >= 0 && $0 <= 1 })
            #expect(Set(values).count > 100)          // a photograph, not a flat image
            // Re-encoding and decoding is lossless for 8-bit content.
            #expect(try PNG.decode(PNG.encode(image)).scalars == values)
        }
    }

    @Test("corrupt, truncated and non-PNG inputs are thrown errors with libpng's message")
    func errors() throws {
        let good = try Data(contentsOf: TestData.fixture("png_rgb.png"))
        var corrupt = good
        corrupt[good.count / 2] ^= 0xff                           // breaks a CRC or the deflate data
        // libpng's own words (pngrutil.c, pngread.c) must reach the caller.
        let cases: [(String, Data, String)] = [
            ("not a PNG", Data("hello, world: definitely not an image".utf8), "Not a PNG file"),
            ("empty", Data(), "invalid argument"),
            ("signature only", good.prefix(8), "read beyond end of data"),
            ("truncated", good.prefix(good.count - 20), "read beyond end of data"),
            ("corrupt", corrupt, "IDAT"),
        ]
        for (label, data, libpngMessage) in cases {
            do {
                _ = try PNG.decode(data)
                Issue.record("\(label): no error")
            } catch let error as PNGError {
                #expect(!error.message.isEmpty, "\(label)")
                #expect(error.message.contains(libpngMessage), "\(label): \(error.message)")
                #expect(error.description.contains("PNG"), "\(label)")
            }
        }
        // A missing file and a bad shape are errors too.
        #expect(throws: PNGError.self) { try PNG.read(URL(fileURLWithPath: "/nonexistent/x.png")) }
        #expect(throws: PNGError.self) { try PNG.encode(Tensor(shape: [5, 2, 2])) }
        #expect(throws: PNGError.self) { try PNG.encode(Tensor(shape: [2, 2])) }
    }

    @Test("a seeded fuzz of 500 mutated PNGs never crashes")
    func fuzz() throws {
        let good = [UInt8](try Data(contentsOf: TestData.fixture("png_palette_alpha.png")))
        var rng = Xoshiro256StarStar(seed: 5)
        var decoded = 0
        for round in 0..<500 {
            var bytes = good
            if round % 3 == 0 {
                bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
            } else {
                for _ in 0..<(1 + round % 4) {
                    let i = Int(rng.next() % UInt64(bytes.count))
                    bytes[i] ^= UInt8(1 << (rng.next() % 8))
                }
            }
            if let image = try? PNG.decode(Data(bytes)) {
                decoded += 1
                #expect(image.rank == 3)
            }
        }
        #expect(decoded < 500)
    }

    @Test("imageGrid places each image at its cell, pads with padValue")
    func grid() {
        let images = (0..<5).map { n in Tensor(shape: [2, 2, 3], repeating: Float(n + 1)) }
        let grid = imageGrid(images, columns: 3, padding: 1, padValue: -1)
        #expect(grid.shape == [2, 2 * 3 + 1, 3 * 4 + 1])
        for ch in 0..<2 {
            for y in 0..<7 {
                for x in 0..<13 {
                    // Naive reference: which cell (if any) covers (y, x)?
                    var expected: Float = -1
                    let row = (y - 1) / 3, col = (x - 1) / 4
                    let inside = y >= 1 && x >= 1 && (y - 1) % 3 < 2 && (x - 1) % 4 < 3
                    if inside && row * 3 + col < 5 { expected = Float(row * 3 + col + 1) }
                    #expect(grid[ch, y, x] == expected, "(\(ch), \(y), \(x))")
                }
            }
        }
        let batch = Tensor(shape: [4, 1, 2, 2], scalars: (0..<16).map(Float.init))
        let fromBatch = imageGrid(batch, columns: 2, padding: 0)
        #expect(fromBatch.shape == [1, 4, 4])
        #expect(fromBatch.scalars == [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15])
    }
}
