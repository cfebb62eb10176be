using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Attributes;
using Hvrt.Index;
using Hvrt.Layout;
using Hvrt.Machine;

namespace Hvrt.Abi;

/// <summary>Exports for memory attributes (KVM_SET_MEMORY_ATTRIBUTES) and hugepage levels.</summary>
internal static unsafe class ExportsAttributes
{
    [UnmanagedCallersOnly(EntryPoint = "hvrt_set_memory_attributes", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int SetMemoryAttributes(VmHandle* vm, KvmMemoryAttributes* a)
    {
        try
        {
            int e = VmHandle.Check(vm);
            if (e != 0)
            {
                return e;
            }
            Vm v = Vm.FromHandle(vm);
            // A kernel without KVM_SET_MEMORY_ATTRIBUTES (6.1) says -ENOTTY before reading the argument.
            if (!v.Rules.Profile.HasMemoryAttributes)
            {
                return -Errno.ENOTTY;
            }
            return a == null ? -Errno.EFAULT : v.SetMemoryAttributes(*a);
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    /// <summary>kvm_get_memory_attributes: lock-free, allocation-free.</summary>
    [UnmanagedCallersOnly(EntryPoint = "hvrt_get_memory_attributes", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int GetMemoryAttributes(VmHandle* vm, ulong gfn, ulong* attrs)
    {
        int e = VmHandle.Check(vm);
        if (e != 0)
        {
            return e;
        }
        if (attrs == null)
        {
            return -Errno.EFAULT;
        }
        *attrs = new AttributeView(vm->Read.AttributeRoot).Get(gfn);
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_range_has_attributes", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int RangeHasAttributes(VmHandle* vm, ulong start, ulong end, ulong mask, ulong attrs)
    {
        int e = VmHandle.Check(vm);
        if (e != 0)
        {
            return e;
        }
        ulong supported = Vm.FromHandle(vm).SupportedAttributes;
        return new AttributeView(vm->Read.AttributeRoot).RangeHas(supported, start, end, mask, attrs) ? 1 : 0;
    }

    /// <summary>
    /// The largest level (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB) at which gfn may be mapped: the aligned
    /// frame lies inside gfn's slot, gfn and the slot's hva (and private page) are aligned alike,
    /// and the frame is not mixed. Lock-free (read section), allocation-free.
    /// </summary>
    [UnmanagedCallersOnly(EntryPoint = "hvrt_max_mapping_level", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int MaxMappingLevel(VmHandle* vm, uint asId, ulong gfn)
    {
        int e = VmHandle.Check(vm);
        if (e != 0)
        {
            return e;
        }
        return asId >= vm->Read.NrAddressSpaces ? -Errno.EINVAL : MappingLevel.Max(&vm->Read, asId, gfn);
    }
}
