// Contract: the text tower of CLIP (Radford et al. 2021, "Learning Transferable Visual Models
// From Natural Language Supervision", §2.4: a GPT-2-style pre-LayerNorm transformer with a
// causal mask), as transformers' `CLIPTextModel` with identical state-dict keys
// (`text_model.embeddings.token_embedding.weight`, `text_model.encoder.layers.N.self_attn.q_proj
// .weight`, ..., `text_model.final_layer_norm.weight`). Stable Diffusion 1.x uses OpenAI's
// ViT-L/14 text tower (12 layers, width 768, quick-GELU); 2.x OpenCLIP ViT-H's (23 of its 24
// layers, width 1024, GELU) — configuration only.
//   h₀ = token_embedding(ids) + position_embedding(0..<T)
//   hᵢ = hᵢ₋₁ + attn(ln1(hᵢ₋₁)) (causal);  hᵢ += mlp(ln2(hᵢ)),  mlp = fc2(act(fc1(·)))
//   output = final_layer_norm(h_{N−k}), k = `skippedLayers` (0: the last layer).
// `skippedLayers` is diffusers' `clip_skip` (the number of final layers left out);
// AUTOMATIC1111's "Clip skip N" is skippedLayers = N − 1. Shapes: ids [B, T] with T ≤ 77;
// output [B, T, hidden].

import Autograd
import Foundation
import Tensor

/// The hyper-parameters of a `CLIPTextModel` (transformers' `text_encoder/config.json` names).
public struct CLIPTextConfiguration: Equatable, Sendable {
    /// Tokens in the vocabulary (49,408 for CLIP's BPE).
    public var vocabSize: Int = 49408
    /// Width of the token states.
    public var hiddenSize: Int = 768
    /// Width of the MLP.
    public var intermediateSize: Int = 3072
    /// Transformer layers.
    public var numHiddenLayers: Int = 12
    /// Attention heads.
    public var numAttentionHeads: Int = 12
    /// Positions (the context length, 77).
    public var maxPositionEmbeddings: Int = 77
    /// `quick_gelu` (x·σ(1.702x), OpenAI's CLIP) or `gelu` (exact, OpenCLIP).
    public var hiddenAct: String = "quick_gelu"
    /// ε of every LayerNorm.
    public var layerNormEps: Float = 1e-5

    /// SD 1.5's text encoder (OpenAI CLIP ViT-L/14).
    public init() {}

    /// Reads transformers' `text_encoder/config.json`.
    /// - Throws: `StableDiffusionError` naming a field that is malformed, unknown or not implemented.
    public init(contentsOf url: URL) throws {
        var r = try ConfigurationReader(url: url)
        vocabSize = try r.int("vocab_size", 49408)
        hiddenSize = try r.int("hidden_size", 512)
        intermediateSize = try r.int("intermediate_size", 2048)
        numHiddenLayers = try r.int("num_hidden_layers", 12)
        numAttentionHeads = try r.int("num_attention_heads", 8)
        maxPositionEmbeddings = try r.int("max_position_embeddings", 77)
        hiddenAct = try r.string("hidden_act", "quick_gelu")
        layerNormEps = try r.float("layer_norm_eps", 1e-5)
        guard hiddenAct == "quick_gelu" || hiddenAct == "gelu" else {
            throw StableDiffusionError("\(url.path): hidden_act \"\(hiddenAct)\" is not implemented (supported: quick_gelu, gelu)")
        }
        typealias L = ConfigurationLimits
        try L.check([vocabSize], "vocab_size", in: 1...1_000_000, source: url.path)
        try L.check([hiddenSize, intermediateSize], "hidden_size and intermediate_size", in: L.width, source: url.path)
        try L.check([numHiddenLayers, numAttentionHeads], "num_hidden_layers and num_attention_heads", in: L.count, source: url.path)
        try L.check([maxPositionEmbeddings], "max_position_embeddings", in: 1...L.width.upperBound, source: url.path)
        try L.checkPositive(layerNormEps, "layer_norm_eps", source: url.path)
        guard hiddenSize > 0, numAttentionHeads > 0, hiddenSize % numAttentionHeads == 0 else {
            throw StableDiffusionError("\(url.path): hidden_size \(hiddenSize) does not split into \(numAttentionHeads) heads")
        }
        // Fields of transformers' PretrainedConfig and CLIPTextConfig that do not change the
        // text tower's computation at inference (token ids are the tokenizer's business,
        // projection_dim belongs to CLIPTextModelWithProjection, dropout is off).
        r.ignore(["projection_dim", "pad_token_id", "bos_token_id", "eos_token_id", "dropout", "attention_dropout",
                  "initializer_range", "initializer_factor", "architectures", "model_type", "torch_dtype", "dtype",
                  "transformers_version", "output_attentions", "output_hidden_states", "return_dict", "use_cache",
                  "is_encoder_decoder", "tie_word_embeddings", "chunk_size_feed_forward", "id2label", "label2id",
                  "problem_type", "tokenizer_class", "prefix", "sep_token_id", "decoder_start_token_id",
                  "task_specific_params", "finetuning_task", "add_cross_attention", "tf_legacy_loss", "use_bfloat16",
                  "pruned_heads", "torchscript", "cross_attention_hidden_size", "is_decoder", "_attn_implementation_autoset"])
        try r.finish()
    }
}

/// Multi-head self-attention of a CLIP layer (q_proj, k_proj, v_proj, out_proj, all with bias).
public final class CLIPAttention: Module {
    /// Heads.
    public let heads: Int
    /// Query projection.
    public let queryProjection: Linear
    /// Key projection.
    public let keyProjection: Linear
    /// Value projection.
    public let valueProjection: Linear
    /// Output projection.
    public let outputProjection: Linear

    /// Creates the attention of width `dimension`.
    public init(dimension: Int, heads: Int, generator: inout some RandomTensorGenerator) {
        self.heads = heads
        keyProjection = Linear(inputFeatures: dimension, outputFeatures: dimension, generator: &generator)
        valueProjection = Linear(inputFeatures: dimension, outputFeatures: dimension, generator: &generator)
        queryProjection = Linear(inputFeatures: dimension, outputFeatures: dimension, generator: &generator)
        outputProjection = Linear(inputFeatures: dimension, outputFeatures: dimension, generator: &generator)
    }

    /// transformers' names.
    public var children: [(name: String, module: any Module)] {
        [("q_proj", queryProjection), ("k_proj", keyProjection), ("v_proj", valueProjection), ("out_proj", outputProjection)]
    }

    /// Causal self-attention of x [B, T, C]: token i attends to tokens 0...i.
    public func callAsFunction(_ x: Variable) -> Variable {
        let (batch, count, width) = (x.shape[0], x.shape[1], x.shape[2])
        func split(_ t: Variable) -> Variable { t.reshaped([batch, count, heads, width / heads]).transposed(1, 2) }
        let o = Variable.scaledDotProductAttention(query: split(queryProjection(x)), key: split(keyProjection(x)),
                                                   value: split(valueProjection(x)), causal: true)
        return outputProjection(o.transposed(1, 2).reshaped([batch, count, width]))
    }
}

/// One pre-LayerNorm transformer layer of CLIP's text tower (`CLIPEncoderLayer`).
public final class CLIPEncoderLayer: Module {
    /// LayerNorm before attention.
    public let layerNorm1: LayerNorm
    /// Causal self-attention.
    public let selfAttention: CLIPAttention
    /// LayerNorm before the MLP.
    public let layerNorm2: LayerNorm
    /// MLP input layer.
    public let fc1: Linear
    /// MLP output layer.
    public let fc2: Linear
    /// quick-GELU or GELU.
    public let quickGELU: Bool

    /// Creates the layer of `configuration`.
    public init(_ c: CLIPTextConfiguration, generator: inout some RandomTensorGenerator) {
        selfAttention = CLIPAttention(dimension: c.hiddenSize, heads: c.numAttentionHeads, generator: &generator)
        layerNorm1 = LayerNorm(dimension: c.hiddenSize, epsilon: c.layerNormEps)
        fc1 = Linear(inputFeatures: c.hiddenSize, outputFeatures: c.intermediateSize, generator: &generator)
        fc2 = Linear(inputFeatures: c.intermediateSize, outputFeatures: c.hiddenSize, generator: &generator)
        layerNorm2 = LayerNorm(dimension: c.hiddenSize, epsilon: c.layerNormEps)
        quickGELU = c.hiddenAct == "quick_gelu"
    }

    /// transformers' names.
    public var children: [(name: String, module: any Module)] {
        [("self_attn", selfAttention), ("layer_norm1", layerNorm1), ("mlp.fc1", fc1), ("mlp.fc2", fc2), ("layer_norm2", layerNorm2)]
    }

    /// x [B, T, C] → [B, T, C].
    public func callAsFunction(_ x: Variable) -> Variable {
        let h = x + selfAttention(layerNorm1(x))
        let u = fc1(layerNorm2(h))
        // quick-GELU x·σ(1.702x) (Hendrycks & Gimpel 2016, §2, the sigmoid approximation) or exact GELU.
        let activated = quickGELU ? u * (u * 1.702).sigmoid() : u.gelu()
        return h + fc2(activated)
    }
}

/// CLIP's text encoder with transformers' `CLIPTextModel` parameter names.
public final class CLIPTextModel: Module {
    /// The hyper-parameters.
    public let configuration: CLIPTextConfiguration
    /// Token embeddings [vocab, hidden].
    public let tokenEmbedding: Embedding
    /// Learned position embeddings [77, hidden].
    public let positionEmbedding: Embedding
    /// The transformer layers.
    public let layers: [CLIPEncoderLayer]
    /// The LayerNorm applied to the output.
    public let finalLayerNorm: LayerNorm

    /// Builds the encoder (`DeferredWeights()` when weights are loaded next).
    public init(configuration: CLIPTextConfiguration, generator: inout some RandomTensorGenerator) {
        self.configuration = configuration
        let c = configuration
        tokenEmbedding = Embedding(count: c.vocabSize, dimension: c.hiddenSize, generator: &generator)
        positionEmbedding = Embedding(count: c.maxPositionEmbeddings, dimension: c.hiddenSize, generator: &generator)
        layers = (0..<c.numHiddenLayers).map { _ in CLIPEncoderLayer(c, generator: &generator) }
        finalLayerNorm = LayerNorm(dimension: c.hiddenSize, epsilon: c.layerNormEps)
    }

    /// transformers' names.
    public var children: [(name: String, module: any Module)] {
        [("text_model.embeddings.token_embedding", tokenEmbedding),
         ("text_model.embeddings.position_embedding", positionEmbedding)]
            + layers.enumerated().map { ("text_model.encoder.layers.\($0.offset)", $0.element as any Module) }
            + [("text_model.final_layer_norm", finalLayerNorm)]
    }

    /// The text states [B, T, hidden] of token ids (each row T ≤ 77 ids, all rows the same
    /// length), taken after `skippedLayers` final layers are left out and then normalized by the
    /// final LayerNorm (diffusers' `clip_skip`; AUTOMATIC1111's "Clip skip N" is N − 1).
    public func callAsFunction(_ ids: [[Int]], skippedLayers: Int = 0) -> Tensor {
        let c = configuration
        let count = ids.first?.count ?? 0
        precondition(!ids.isEmpty && ids.allSatisfy { $0.count == count } && count <= c.maxPositionEmbeddings,
                     "CLIPTextModel: ids must be rows of equal length ≤ \(c.maxPositionEmbeddings)")
        precondition(ids.allSatisfy { $0.allSatisfy { (0..<c.vocabSize).contains($0) } },
                     "CLIPTextModel: token ids must lie in 0..<\(c.vocabSize)")
        precondition((0..<c.numHiddenLayers).contains(skippedLayers),
                     "CLIPTextModel: skippedLayers must be in 0..<\(c.numHiddenLayers), got \(skippedLayers)")
        return withoutGradients {
            var h = tokenEmbedding(ids.flatMap { $0 }, shape: [ids.count, count])
                + positionEmbedding(Array(0..<count), shape: [1, count])
            for layer in layers.prefix(c.numHiddenLayers - skippedLayers) { h = layer(h) }
            return finalLayerNorm(h).value
        }
    }
}
