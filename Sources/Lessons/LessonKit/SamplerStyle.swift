// SamplerStyle: one colour and one dash pattern per sampler, the same in every figure of every
// lesson and of `diffuse`.
//
// Contract: a sampler is named by its k-diffusion name (`euler`, `dpmpp_2m`, ...). Each of the
// registry's samplers has its own colour; `ddim` draws exactly the same numbers as `euler`, and
// `ddpm` as `euler_ancestral`, so those two are drawn dashed and after their twin (see
// `drawingOrder`) so that both stay visible where they coincide. An unknown name (a sampler
// added later) gets a grey and is still drawn.

/// How one sampler is drawn in every figure.
public struct SamplerStyle: Sendable, Hashable {
    /// The sampler's colour.
    public var color: Color
    /// Dash pattern (1 solid, 2 dashed): dashed for a sampler that coincides with another.
    public var dashType: Int
    /// The sampler whose numbers this one reproduces exactly, if any (`ddim` → `euler`).
    public var coincidesWith: String?

    /// The style of the sampler named `name` (k-diffusion name).
    public static func of(_ name: String) -> SamplerStyle {
        table[name] ?? SamplerStyle(color: "#999999", dashType: 1, coincidesWith: nil)
    }

    /// Every sampler's style. The colours are chosen to be told apart on white at line
    /// width 1.5; the two coinciding pairs pair a warm with a cool colour so that the dashes of
    /// the upper one show the solid line of the lower one between them.
    public static let table: [String: SamplerStyle] = [
        "euler": SamplerStyle(color: "#1f77b4", dashType: 1),
        "ddim": SamplerStyle(color: "#ff9f1c", dashType: 2, coincidesWith: "euler"),
        "euler_ancestral": SamplerStyle(color: "#d62728", dashType: 1),
        "ddpm": SamplerStyle(color: "#4fc3f7", dashType: 2, coincidesWith: "euler_ancestral"),
        "heun": SamplerStyle(color: "#2ca02c", dashType: 1),
        "dpm_2": SamplerStyle(color: "#9467bd", dashType: 1),
        "dpm_2_ancestral": SamplerStyle(color: "#e377c2", dashType: 1),
        "lms": SamplerStyle(color: "#8c564b", dashType: 1),
        "dpmpp_2s_ancestral": SamplerStyle(color: "#ff7f0e", dashType: 1),
        "dpmpp_2m": SamplerStyle(color: "#17becf", dashType: 1),
        "dpmpp_sde": SamplerStyle(color: "#bcbd22", dashType: 1),
        "dpmpp_2m_sde": SamplerStyle(color: "#00545c", dashType: 1),
        "dpmpp_3m_sde": SamplerStyle(color: "#a6761d", dashType: 1),
        "plms": SamplerStyle(color: "#7f7f7f", dashType: 1),
        "dpm_fast": SamplerStyle(color: "#393b79", dashType: 1),
        "dpm_adaptive": SamplerStyle(color: "#637939", dashType: 1),
        "restart": SamplerStyle(color: "#843c39", dashType: 1),
        "ipndm": SamplerStyle(color: "#7b4173", dashType: 1),
        "edm_stochastic": SamplerStyle(color: "#e7ba52", dashType: 1),
        "unipc": SamplerStyle(color: "#6b6ecf", dashType: 1),
        "deis": SamplerStyle(color: "#c49c94", dashType: 1),
        "lcm": SamplerStyle(color: "#4a1486", dashType: 1),
    ]

    /// Creates a style.
    public init(color: Color, dashType: Int = 1, coincidesWith: String? = nil) {
        self.color = color
        self.dashType = dashType
        self.coincidesWith = coincidesWith
    }

    /// `names` in the order to draw them: samplers that coincide with another come after it, so
    /// their dashes lie on top of the twin's solid line.
    public static func drawingOrder(_ names: [String]) -> [String] {
        names.filter { of($0).coincidesWith == nil } + names.filter { of($0).coincidesWith != nil }
    }
}
