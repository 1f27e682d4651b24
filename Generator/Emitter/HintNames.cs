using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Text;

namespace AttentionGen.Generator.Emitter;

/// <summary>
/// Gives each generated file its hint name, once every file of the compilation is known. Roslyn compares hint names
/// without regard to case (they become file names, and file systems differ), and a clash drops every file the
/// generator adds. So names are made unique here, deterministically, from the type names alone.
/// </summary>
internal static class HintNames
{
    /// <summary>
    /// Pairs each source with its hint name: <c>Namespace.Type.g.cs</c>, or, where several types would get names that
    /// differ only in case (<c>Models.Attn</c> and <c>Models.ATTN</c>), <c>Namespace.Type.XXXXXXXX.g.cs</c> with a hash of
    /// the exact type name. A type that somehow appears twice is written once.
    /// </summary>
    public static IEnumerable<(GeneratedSource Source, string HintName)> Assign(ImmutableArray<GeneratedSource> sources)
    {
        var distinct = new List<GeneratedSource>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (GeneratedSource source in sources.OrderBy(source => source.TypeName, StringComparer.Ordinal))
        {
            if (seen.Add(source.TypeName))
            {
                distinct.Add(source);
            }
        }

        var taken = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (IGrouping<string, GeneratedSource> group in distinct.GroupBy(source => Base(source.TypeName), StringComparer.OrdinalIgnoreCase))
        {
            bool clash = group.Skip(1).Any();
            foreach (GeneratedSource source in group)
            {
                string stem = clash ? Base(source.TypeName) + "." + Fnv.Hash(source.TypeName) : Base(source.TypeName);
                string name = stem + ".g.cs";
                for (int i = 2; !taken.Add(name); i++)
                {
                    name = stem + "." + i.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".g.cs";
                }

                yield return (source, name);
            }
        }
    }

    /// <summary>The type's dotted name with every character that is not a letter, a digit, '.' or '_' made '_'.</summary>
    private static string Base(string typeName)
    {
        var builder = new StringBuilder(typeName.Length);
        foreach (char c in typeName)
        {
            builder.Append(char.IsLetterOrDigit(c) || c is '.' or '_' ? c : '_');
        }

        return builder.ToString();
    }
}
