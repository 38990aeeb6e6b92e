// imageGrid: tile images into one image, like torchvision's `make_grid`.
//
// Contract: N images of one shape [C, H, W] are laid out row by row, `columns` per row, with
// `padding` pixels of `padValue` between images and around the border; the result has shape
// [C, rows (H + padding) + padding, columns (W + padding) + padding] with
// rows = ceil(N / columns), and unused cells are filled with `padValue`.

/// Tiles `images` (each [C, H, W], all the same shape) into one [C, H', W'] grid image.
public func imageGrid(_ images: [Tensor], columns: Int, padding: Int = 2, padValue: Float = 0) -> Tensor {
    precondition(!images.isEmpty, "imageGrid: no images")
    precondition(columns > 0 && padding >= 0, "imageGrid: columns (\(columns)) must be positive and padding (\(padding)) non-negative")
    let shape = images[0].shape
    precondition(shape.count == 3, "imageGrid: images must be [C, H, W], got \(shape)")
    for image in images { precondition(image.shape == shape, "imageGrid: image shapes differ: \(shape) and \(image.shape)") }
    let (c, h, w) = (shape[0], shape[1], shape[2])
    let columnCount = Swift.min(columns, images.count)
    let rows = (images.count - 1) / columns + 1               // ceil without overflow for any columns
    let gridH = rows * (h + padding) + padding, gridW = columnCount * (w + padding) + padding
    var grid = Tensor(shape: [c, gridH, gridW], repeating: padValue)
    grid.withUnsafeMutableBufferPointer { out in
        for (n, image) in images.enumerated() {
            let top = padding + (n / columns) * (h + padding), left = padding + (n % columns) * (w + padding)
            image.withUnsafeBufferPointer { src in
                for ch in 0..<c {
                    for y in 0..<h {
                        let from = (ch * h + y) * w, to = (ch * gridH + top + y) * gridW + left
                        for x in 0..<w { out[to + x] = src[from + x] }
                    }
                }
            }
        }
    }
    return grid
}

/// Tiles a batch [N, C, H, W] into one [C, H', W'] grid image (see `imageGrid(_:columns:padding:padValue:)`).
public func imageGrid(_ batch: Tensor, columns: Int, padding: Int = 2, padValue: Float = 0) -> Tensor {
    precondition(batch.rank == 4, "imageGrid: batch must be [N, C, H, W], got \(batch.shape)")
    return imageGrid((0..<batch.shape[0]).map { batch[index: $0] }, columns: columns, padding: padding, padValue: padValue)
}
