// Contract: the errors of the Fréchet-distance code. Bad input (a missing classifier file, too
// few images for a covariance, images of a size the classifier cannot see, NaN pixels, a model
// folder of a kind this build cannot sample) is a thrown `FIDError` whose description names the
// problem and the fix. A guidance request an unconditional model cannot serve is one too.

/// A user-facing error of FID evaluation; its `description` says what to do.
public enum FIDError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The classifier weights (the feature extractor) are not at `path`.
    case classifierNotFound(path: String)
    /// A covariance needs at least two feature vectors; `count` were given.
    case tooFewImages(count: Int)
    /// Two statistics (or a mean and a covariance) of different feature dimensions.
    case dimensionMismatch(String)
    /// Images that are not [N, C, H, W] with C = 1 or 3 and H = W = 28, 32 or 64.
    case unsupportedImages(shape: [Int])
    /// Images or features with NaN or infinite values (for example from a diverged model).
    case nonFiniteValues(String)
    /// An image count that cannot be served (for example more training images than exist).
    case invalidCount(String)
    /// A guidance scale or class request the model cannot serve (an unconditional model, a
    /// class count other than the classifier's, a negative or non-finite scale).
    case invalidGuidance(String)

    /// A sentence naming the problem and the fix.
    public var description: String {
        switch self {
        case let .classifierNotFound(path):
            return "the FID feature extractor \(path) was not found. It ships with the repository as "
                + "models/fashion-classifier.safetensors: run from the package root or pass its path "
                + "(--classifier), or train it again with `swift run -c release lesson-03-training`"
        case let .tooFewImages(count):
            return "a feature covariance needs at least 2 images, got \(count)"
        case let .dimensionMismatch(what):
            return "feature dimensions do not match: \(what)"
        case let .unsupportedImages(shape):
            return "images of shape \(shape) cannot be mapped to the classifier's 28×28 input: expected "
                + "[N, C, H, W] with C = 1 or 3 and H = W = 28, 32 (centre-cropped) or 64 (pooled, then cropped)"
        case let .nonFiniteValues(what):
            return "\(what) contain NaN or infinite values; the model or its sampler diverged"
        case let .invalidCount(reason):
            return "invalid image count: \(reason)"
        case let .invalidGuidance(reason):
            return "invalid guidance: \(reason)"
        }
    }
}
