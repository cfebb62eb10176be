using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;

namespace Hvrt.Tests.Support;

/// <summary>The memory-attribute exports, called as C calls them.</summary>
internal static unsafe class AttrFfi
{
    public const ulong Private = 8;

    public static int Set(VmHandle* vm, KvmMemoryAttributes* a)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, KvmMemoryAttributes*, int> f = &ExportsAttributes.SetMemoryAttributes;
        return f(vm, a);
    }

    public static int Set(VmHandle* vm, ulong address, ulong size, ulong attributes, ulong flags = 0)
    {
        var a = new KvmMemoryAttributes { Address = address, Size = size, Attributes = attributes, Flags = flags };
        return Set(vm, &a);
    }

    /// <summary>Pages [gfn, gfn + n) private or shared.</summary>
    public static int SetPages(VmHandle* vm, ulong gfn, ulong n, bool isPrivate) => Set(vm, gfn << 12, n << 12, isPrivate ? Private : 0);

    public static int Get(VmHandle* vm, ulong gfn, ulong* attrs)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, ulong, ulong*, int> f = &ExportsAttributes.GetMemoryAttributes;
        return f(vm, gfn, attrs);
    }

    public static ulong Get(VmHandle* vm, ulong gfn)
    {
        ulong v;
        int r = Get(vm, gfn, &v);
        return r == 0 ? v : unchecked((ulong)r);
    }

    public static int RangeHas(VmHandle* vm, ulong start, ulong end, ulong mask, ulong attrs)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, ulong, ulong, ulong, ulong, int> f = &ExportsAttributes.RangeHasAttributes;
        return f(vm, start, end, mask, attrs);
    }

    public static int MaxLevel(VmHandle* vm, uint asId, ulong gfn)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, uint, ulong, int> f = &ExportsAttributes.MaxMappingLevel;
        return f(vm, asId, gfn);
    }

    public static int Run(VmHandle* vm, ulong gfn, ulong end, ulong* runEnd, ulong* attrs)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, ulong, ulong, ulong*, ulong*, int> f = &ExportsAttributeRuns.Run;
        return f(vm, gfn, end, runEnd, attrs);
    }

    public static int Count(VmHandle* vm, ulong start, ulong end, ulong* privatePages)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, ulong, ulong, ulong*, int> f = &ExportsAttributeRuns.Count;
        return f(vm, start, end, privatePages);
    }

    public static Hvrt.Attributes.AttributeStore Store(VmHandle* vm) => Vm.FromHandle(vm).Attributes;
}
