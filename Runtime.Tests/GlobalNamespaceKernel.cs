using AttentionGen;

/// <summary>A kernel in the global namespace.</summary>
[Attention(Heads = 2, KvHeads = 1, HeadDim = 40, ValueDim = 24)]
public partial class GlobalNamespaceKernel;
