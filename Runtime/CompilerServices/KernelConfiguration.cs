using System.ComponentModel;

namespace AttentionGen.CompilerServices;

/// <summary>A generated kernel's constants as an <see cref="AttentionConfiguration"/>. Used by generated code; not meant to be called directly.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class KernelConfiguration
{
    /// <summary>The configuration <typeparamref name="TKernel"/> was generated from, with defaults resolved.</summary>
    /// <typeparam name="TKernel">The generated kernel.</typeparam>
    public static AttentionConfiguration Of<TKernel>()
        where TKernel : struct, IAttentionKernel => new()
        {
            Heads = TKernel.Heads,
            KvHeads = TKernel.KvHeads,
            HeadDim = TKernel.HeadDim,
            ValueDim = TKernel.ValueDim,
            Mask = TKernel.Mask,
            Alignment = TKernel.Alignment,
            WindowLeft = TKernel.WindowLeft,
            WindowRight = TKernel.WindowRight,
            Scale = TKernel.Scale,
            Softcap = TKernel.Softcap,
            Layout = TKernel.Layout,
        };
}
