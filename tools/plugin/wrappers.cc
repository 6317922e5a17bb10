// partmalloc's clang plugin: allocation wrappers carry their callers' types.
//
// Loaded by `partmalloc cc`, in two roles:
//
// -fpass-plugin=   (whenever tokens are on) a module pass at the start of the
//   pipeline, before inlining. For every function of the module that is
//   called with an allocation token (clang attaches !alloc_token to calls of
//   functions declared malloc or alloc_size; -fsanitize-alloc-token-extended
//   later rewrites them into __alloc_token_<name>(args..., token)):
//     - it is kept out of line (noinline) and its signature fixed (listed in
//       llvm.compiler.used), so the rewrite happens at the call: inlined, its
//       own malloc would carry the wrapper's token instead of the caller's;
//     - if it is internal (static), its companion __alloc_token_<name> is
//       defined here, internal too, since no other translation unit can call
//       it: it opens a token scope with the caller's token and return address,
//       calls the wrapper and closes the scope.
//   And every wrapper this module defines with external linkage (declared
//   malloc or alloc_size: its return is noalias or it has allocsize) gets its
//   companion here, weak and with the wrapper's visibility: the signature is
//   the wrapper's own, whatever its parameters, no debug info is needed, and
//   a shared library exports its wrappers' companions to the programs that
//   link with it. A companion the program defines itself wins over the weak
//   one; the link (tools/cc_link.c) writes those still missing.
//
// -fplugin=        (with --wrapper=NAME,...) the named functions' declarations,
//   as the program itself declares them, get __attribute__((malloc)) when they
//   return a pointer and have neither malloc nor alloc_size: clang then infers
//   each call's type and attaches the token, as for a declared allocator.
//   Only malloc, not alloc_size: the size argument of a wrapper is not always
//   the size of what it returns (a usable-size wrapper returns more), and
//   alloc_size would tell _FORTIFY_SOURCE and the optimizer otherwise.
//   Arguments: -fplugin-arg-partmalloc-names=NAME,NAME,...
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "clang/AST/ASTConsumer.h"
#include "clang/AST/ASTContext.h"
#include "clang/AST/Attr.h"
#include "clang/AST/Decl.h"
#include "clang/AST/DeclGroup.h"
#include "clang/Basic/Diagnostic.h"
#include "clang/Frontend/CompilerInstance.h"
#include "clang/Frontend/FrontendPluginRegistry.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/Intrinsics.h"
#include "llvm/IR/Module.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Plugins/PassPlugin.h"
#include "llvm/Transforms/Utils/ModuleUtils.h"

namespace {

// ---- the front end: attributes for the named wrappers ----

class WrapperConsumer : public clang::ASTConsumer {
public:
    // A copy: clang destroys the action once it has made the consumer.
    explicit WrapperConsumer(std::set<std::string> names) : names_(std::move(names)) {}

    void Initialize(clang::ASTContext &ctx) override { ctx_ = &ctx; }

    bool HandleTopLevelDecl(clang::DeclGroupRef group) override {
        for (clang::Decl *d : group)
            visit(d);
        return true;
    }

private:
    void visit(clang::Decl *d) {
        if (auto *spec = llvm::dyn_cast<clang::LinkageSpecDecl>(d)) {
            for (clang::Decl *inner : spec->decls())
                visit(inner);
            return;
        }
        if (auto *ns = llvm::dyn_cast<clang::NamespaceDecl>(d)) {
            for (clang::Decl *inner : ns->decls())
                visit(inner);
            return;
        }
        auto *fn = llvm::dyn_cast<clang::FunctionDecl>(d);
        if (!fn || !fn->getIdentifier() || !names_.count(fn->getIdentifier()->getName().str()))
            return;
        if (!fn->getReturnType()->isPointerType()) {
            if (warned_.insert(fn->getIdentifier()->getName().str()).second) {
                clang::DiagnosticsEngine &diags = ctx_->getDiagnostics();
                unsigned id = diags.getCustomDiagID(clang::DiagnosticsEngine::Warning,
                                                    "partmalloc: --wrapper=%0: it does not return a pointer; "
                                                    "its calls are left as they are");
                diags.Report(fn->getLocation(), id) << fn->getIdentifier()->getName();
            }
            return;
        }
        if (fn->hasAttr<clang::RestrictAttr>() || fn->hasAttr<clang::AllocSizeAttr>())
            return;
        fn->addAttr(clang::RestrictAttr::CreateImplicit(*ctx_, nullptr, clang::ParamIdx(), fn->getLocation(),
                                                        clang::RestrictAttr::GNU_malloc));
    }

    const std::set<std::string> names_;
    std::set<std::string> warned_;
    clang::ASTContext *ctx_ = nullptr;
};

class WrapperAction : public clang::PluginASTAction {
protected:
    std::unique_ptr<clang::ASTConsumer> CreateASTConsumer(clang::CompilerInstance &, llvm::StringRef) override {
        return std::make_unique<WrapperConsumer>(names_);
    }

    bool ParseArgs(const clang::CompilerInstance &ci, const std::vector<std::string> &args) override {
        for (const std::string &arg : args) {
            if (arg.rfind("names=", 0) != 0) {
                clang::DiagnosticsEngine &diags = ci.getDiagnostics();
                unsigned id = diags.getCustomDiagID(clang::DiagnosticsEngine::Error,
                                                    "partmalloc plugin: unknown argument '%0' (accepted: names=LIST)");
                diags.Report(id) << arg;
                return false;
            }
            llvm::SmallVector<llvm::StringRef, 16> parts;
            llvm::StringRef(arg).substr(6).split(parts, ',', -1, false);
            for (llvm::StringRef p : parts)
                names_.insert(p.trim().str());
        }
        return true;
    }

    ActionType getActionType() override { return AddBeforeMainAction; }

private:
    std::set<std::string> names_;
};

// ---- the pass: wrappers kept out of line, static wrappers' companions ----

// The C library's allocators: their companions are partmalloc's own.
bool is_library_allocator(llvm::StringRef name) {
    static const char *const names[] = {"malloc", "calloc", "realloc", "reallocarray", "aligned_alloc",
                                        "posix_memalign", "memalign", "valloc", "pvalloc", "strdup",
                                        "strndup", nullptr};
    for (const char *const *n = names; *n; n++)
        if (name == *n)
            return true;
    return name.starts_with("_Zn"); // operator new
}

llvm::Function *define_companion(llvm::Module &m, llvm::Function *wrapper, bool local) {
    std::string name = "__alloc_token_" + wrapper->getName().str();
    if (llvm::Function *existing = m.getFunction(name))
        return existing->isDeclaration() ? nullptr : existing;
    llvm::LLVMContext &c = m.getContext();
    llvm::Type *intptr = m.getDataLayout().getIntPtrType(c);
    llvm::FunctionType *wt = wrapper->getFunctionType();
    llvm::SmallVector<llvm::Type *, 8> params(wt->params().begin(), wt->params().end());
    params.push_back(intptr);
    llvm::FunctionType *ct = llvm::FunctionType::get(wt->getReturnType(), params, false);
    llvm::Function *comp = llvm::Function::Create(
        ct, local ? llvm::GlobalValue::InternalLinkage : llvm::GlobalValue::WeakAnyLinkage, name, m);
    if (!local)
        comp->setVisibility(wrapper->getVisibility());
    comp->addFnAttr(llvm::Attribute::NoInline);
    comp->addFnAttr(llvm::Attribute::NoUnwind);

    llvm::FunctionCallee begin = m.getOrInsertFunction("pm_token_scope_begin", llvm::Type::getVoidTy(c), intptr,
                                                       llvm::PointerType::getUnqual(c));
    llvm::FunctionCallee end = m.getOrInsertFunction("pm_token_scope_end", llvm::Type::getVoidTy(c));
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(c, "entry", comp));
    llvm::Value *site = b.CreateIntrinsic(llvm::Intrinsic::returnaddress, {}, {b.getInt32(0)});
    b.CreateCall(begin, {comp->getArg(wt->getNumParams()), site});
    llvm::SmallVector<llvm::Value *, 8> args;
    for (unsigned i = 0; i < wt->getNumParams(); i++)
        args.push_back(comp->getArg(i));
    llvm::CallInst *call = b.CreateCall(wrapper, args);
    call->setCallingConv(wrapper->getCallingConv());
    call->setAttributes(wrapper->getAttributes());
    b.CreateCall(end);
    if (wt->getReturnType()->isVoidTy())
        b.CreateRetVoid();
    else
        b.CreateRet(call);
    return comp;
}

// Declared malloc or alloc_size (by the program, or by --wrapper).
bool is_declared_allocator(const llvm::Function &f) {
    return f.getReturnType()->isPointerTy() &&
           (f.hasRetAttribute(llvm::Attribute::NoAlias) || f.hasFnAttribute(llvm::Attribute::AllocSize));
}

struct WrapperPass : llvm::PassInfoMixin<WrapperPass> {
    llvm::PreservedAnalyses run(llvm::Module &m, llvm::ModuleAnalysisManager &) {
        unsigned kind = m.getContext().getMDKindID("alloc_token");
        std::vector<llvm::Function *> wrappers;
        std::set<llvm::Function *> seen;
        for (llvm::Function &f : m)
            for (llvm::Instruction &i : llvm::instructions(f)) {
                auto *cb = llvm::dyn_cast<llvm::CallBase>(&i);
                llvm::Function *callee = cb ? cb->getCalledFunction() : nullptr;
                if (!callee || callee->isDeclaration() || callee->isVarArg() || !cb->getMetadata(kind) ||
                    is_library_allocator(callee->getName()))
                    continue;
                if (seen.insert(callee).second)
                    wrappers.push_back(callee);
            }
        std::vector<llvm::GlobalValue *> keep;
        for (llvm::Function *w : wrappers) {
            if (!w->hasFnAttribute(llvm::Attribute::AlwaysInline))
                w->addFnAttr(llvm::Attribute::NoInline);
            keep.push_back(w);
            if (w->hasLocalLinkage())
                if (llvm::Function *comp = define_companion(m, w, true))
                    keep.push_back(comp);
        }
        std::vector<llvm::Function *> exported;
        for (llvm::Function &f : m)
            if (!f.isDeclaration() && !f.hasLocalLinkage() && !f.isVarArg() && is_declared_allocator(f) &&
                !is_library_allocator(f.getName()) && !f.getName().starts_with("__alloc_token_"))
                exported.push_back(&f);
        for (llvm::Function *w : exported)
            if (llvm::Function *comp = define_companion(m, w, false)) {
                if (!seen.count(w) && !w->hasFnAttribute(llvm::Attribute::AlwaysInline))
                    w->addFnAttr(llvm::Attribute::NoInline);
                keep.push_back(w);
                keep.push_back(comp);
            }
        if (keep.empty())
            return llvm::PreservedAnalyses::all();
        llvm::appendToCompilerUsed(m, keep);
        return llvm::PreservedAnalyses::none();
    }
};

} // namespace

static clang::FrontendPluginRegistry::Add<WrapperAction> frontend("partmalloc",
                                                                  "partmalloc: attributes for named wrappers");

extern "C" LLVM_ATTRIBUTE_WEAK llvm::PassPluginLibraryInfo llvmGetPassPluginInfo() {
    return {LLVM_PLUGIN_API_VERSION, "partmalloc", "1", [](llvm::PassBuilder &pb) {
                pb.registerPipelineStartEPCallback(
                    [](llvm::ModulePassManager &mpm, llvm::OptimizationLevel) { mpm.addPass(WrapperPass()); });
            }};
}
