using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using AttentionGen.Generator.Helpers;
using AttentionGen.Generator.Model;
using Microsoft.CodeAnalysis;
using Xunit;

namespace AttentionGen.Generator.Tests;

/// <summary>The model's discipline: plain values with structural equality, nothing from Roslyn's object graph.</summary>
public sealed class ModelTests
{
    private static readonly Type[] Forbidden =
    {
        typeof(ISymbol), typeof(Compilation), typeof(SyntaxNode), typeof(SyntaxTree), typeof(Location), typeof(SemanticModel), typeof(SyntaxToken),
    };

    [Fact]
    public void No_Roslyn_symbol_node_or_location_is_reachable_from_the_model()
    {
        var visited = new HashSet<Type>();
        Walk(typeof(KernelModel), "KernelModel", visited);
        Assert.Contains(typeof(KernelConfiguration), visited);
        Assert.Contains(typeof(TypeDeclaration), visited);
    }

    [Fact]
    public void Equal_declarations_give_equal_models()
    {
        KernelModel a = Model(64), b = Model(64), c = Model(80);
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, c);

        static KernelModel Model(int headDim) => new(
            new TypeHierarchy("N", new EquatableArray<TypeDeclaration>(new[] { new TypeDeclaration("partial class", "Outer"), new TypeDeclaration("partial class", "K") })),
            new KernelConfiguration(4, 4, headDim, headDim, AttentionMask.Causal, MaskAlignment.TopLeft, 0, 0, 0.125f, true, 0f, AttentionLayout.Bshd));
    }

    private static void Walk(Type type, string path, HashSet<Type> visited)
    {
        if (!visited.Add(type) || type.IsPrimitive || type.IsEnum || type == typeof(string))
        {
            return;
        }

        Type? forbidden = Forbidden.FirstOrDefault(f => f.IsAssignableFrom(type));
        Assert.True(forbidden is null, $"{path} is a {type.Name}, which is a {forbidden?.Name}: the model must not hold Roslyn objects.");

        if (type.IsGenericType)
        {
            foreach (Type argument in type.GetGenericArguments())
            {
                Walk(argument, $"{path}<{argument.Name}>", visited);
            }
        }

        if (type.IsArray)
        {
            Walk(type.GetElementType()!, path + "[]", visited);
            return;
        }

        if (type.Namespace?.StartsWith("AttentionGen", StringComparison.Ordinal) == true && !type.IsValueType)
        {
            Assert.True(typeof(IEquatable<>).MakeGenericType(type).IsAssignableFrom(type), $"{path} ({type.Name}) has no value equality.");
        }

        foreach (FieldInfo field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            Walk(field.FieldType, $"{path}.{field.Name}", visited);
        }
    }
}
