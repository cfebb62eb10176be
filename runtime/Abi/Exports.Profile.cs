using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Kvm;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;

namespace Hvrt.Abi;

/// <summary>Kernel profiles: which kernel's KVM rules a VM follows, and what a profile number resolves to here.</summary>
internal static unsafe class ExportsProfile
{
    /// <summary>The profile vm follows (hvrt_vm_kvm_profile); copies min(out->size, 48) bytes.</summary>
    [UnmanagedCallersOnly(EntryPoint = "hvrt_vm_kvm_profile", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int VmKvmProfile(VmHandle* vm, HvrtKvmProfile* result)
    {
        try
        {
            int e = VmHandle.Check(vm);
            if (e != 0)
            {
                return e;
            }
            VmRules rules = Vm.FromHandle(vm).Rules;
            return SizedCopy.To(rules.Profile.ToAbi(rules.VmType), result);
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    /// <summary>What hvrt_vm_config's kvm_profile = profile resolves to for a VM of vm_type (0 probes /dev/kvm once).</summary>
    [UnmanagedCallersOnly(EntryPoint = "hvrt_kvm_profile_query", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int KvmProfileQuery(uint profile, uint vmType, HvrtKvmProfile* result)
    {
        try
        {
            if (result == null)
            {
                return -Errno.EFAULT;
            }
            if (vmType >= 32)
            {
                return -Errno.EINVAL;
            }
            int e = HostProfile.Resolve(profile, vmType, out KernelProfile? p);
            return e != 0 ? e : SizedCopy.To(p!.ToAbi(vmType), result);
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }
}
