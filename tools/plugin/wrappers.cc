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
//   A named variable at file scope that holds a pointer to a function
//   returning a pointer (libxml2's xmlMalloc) gets a forwarder instead:
//   every call through it, `xmlMalloc(n)` or `(*xmlMalloc)(n)`, becomes a
//   call of __partmalloc_call_<variable>, declared malloc with the
//   function's type, in the same place of its expression, so that clang
//   infers the type as for a direct call; the pass defines the forwarder and
//   its companion in each file (define_forwarders). Other uses of the
//   variable (assignments, its address) are left alone. A name that is
//   neither a function nor such a variable gets a warning naming it.
//   Arguments: -fplugin-arg-partmalloc-names=NAME,NAME,...
//
//   With -fplugin-arg-partmalloc-remarks (which `partmalloc cc` adds when
//   PARTMALLOC_REMARKS=1, with or without --wrapper) it also reports, as
//   remarks in clang's format, the allocations whose token clang takes from
//   something that is not the object's type, and the wrappers it finds (see
//   SiteVisitor). And when PARTMALLOC_REPORT_LOG names a file, it appends the
//   name of each file it compiles to it (but the one skip=FILE names:
//   partmalloc cc's own definition file): `partmalloc report -- BUILD` counts
//   them to tell what the build compiled.
#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "clang/AST/ASTConsumer.h"
#include "clang/AST/ASTContext.h"
#include "clang/AST/Attr.h"
#include "clang/AST/Decl.h"
#include "clang/AST/DeclGroup.h"
#include "clang/AST/Mangle.h"
#include "clang/AST/ParentMapContext.h"
#include "clang/AST/RecursiveASTVisitor.h"
#include "clang/Basic/SourceManager.h"
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

// ---- the front end: allocations typed by a cast, and wrappers found ----

// The C library's allocators that return a pointer, and which of their
// arguments are sizes (a bit per argument).
unsigned library_size_args(llvm::StringRef name) {
    static const struct {
        const char *name;
        unsigned sizes;
    } allocators[] = {{"malloc", 1},  {"calloc", 3},   {"realloc", 2}, {"reallocarray", 6}, {"aligned_alloc", 2},
                      {"memalign", 2}, {"valloc", 1},  {"pvalloc", 1}};
    for (const auto &a : allocators)
        if (name == a.name)
            return a.sizes;
    return 0;
}

// The size arguments of a call to an allocator (as a bit mask), or 0 if
// the callee is none: the C library's, or one declared alloc_size (its
// size parameters) or malloc (all of them).
unsigned size_args_of(const clang::FunctionDecl *callee) {
    if (!callee->getReturnType()->isPointerType())
        return 0;
    if (const auto *size = callee->getAttr<clang::AllocSizeAttr>()) {
        unsigned mask = 1u << size->getElemSizeParam().getASTIndex();
        if (size->getNumElemsParam().isValid())
            mask |= 1u << size->getNumElemsParam().getASTIndex();
        return mask;
    }
    if (callee->hasAttr<clang::RestrictAttr>())
        return ~0u;
    if (callee->getIdentifier() && callee->getDeclContext()->getRedeclContext()->isTranslationUnit())
        return library_size_args(callee->getIdentifier()->getName());
    return 0;
}

// Whether e holds a sizeof (clang then takes the type from it).
bool holds_sizeof(const clang::Stmt *e) {
    if (!e)
        return false;
    if (const auto *u = llvm::dyn_cast<clang::UnaryExprOrTypeTraitExpr>(e))
        if (u->getKind() == clang::UETT_SizeOf)
            return true;
    for (const clang::Stmt *child : e->children())
        if (holds_sizeof(child))
            return true;
    return false;
}

// Whether e refers to one of fn's parameters.
bool uses_parameter(const clang::Stmt *e, const clang::FunctionDecl *fn) {
    if (!e)
        return false;
    if (const auto *ref = llvm::dyn_cast<clang::DeclRefExpr>(e))
        if (const auto *parm = llvm::dyn_cast<clang::ParmVarDecl>(ref->getDecl()))
            return parm->getDeclContext() == fn;
    for (const clang::Stmt *child : e->children())
        if (uses_parameter(child, fn))
            return true;
    return false;
}

// A pointee type that says nothing about the object: void, or char-like
// (any integer type, char and int8_t among them).
bool is_untyped_pointee(clang::QualType t) {
    t = t.getCanonicalType();
    return t->isVoidType() || t->isIntegerType();
}

// Where clang takes an allocation's type from when its size arguments hold
// no sizeof: the first cast around the call that names a pointer type (an
// explicit one, or an implicit conversion to the variable or the left-hand
// side it is stored in).
struct TypeSource {
    clang::QualType pointee; // null: none (clang remarks the call itself)
    std::string from;        // "a cast", "the variable 'p'", "an assignment"
};

class SiteVisitor : public clang::RecursiveASTVisitor<SiteVisitor> {
public:
    SiteVisitor(clang::ASTContext &ctx, const std::set<std::string> &named) : ctx_(ctx), named_(named) {}

    // Functions of every kind (C++ methods too): the one whose body is walked.
    bool TraverseDecl(clang::Decl *d) {
        auto *fn = llvm::dyn_cast_or_null<clang::FunctionDecl>(d);
        if (!fn)
            return clang::RecursiveASTVisitor<SiteVisitor>::TraverseDecl(d);
        clang::FunctionDecl *outer = function_;
        function_ = fn->doesThisDeclarationHaveABody() ? fn : nullptr;
        stored_.clear();
        bool ok = clang::RecursiveASTVisitor<SiteVisitor>::TraverseDecl(d);
        function_ = outer;
        return ok;
    }

    bool VisitCallExpr(clang::CallExpr *call) {
        const clang::FunctionDecl *callee = call->getDirectCallee();
        if (!function_ || !callee || !size_args_of(callee) || sized_by_sizeof(call, callee))
            return true;
        TypeSource source = type_source(call);
        if (source.pointee.isNull() || !is_untyped_pointee(source.pointee))
            return true;
        bool is_void = source.pointee.getCanonicalType()->isVoidType();
        std::string type = source.pointee.getUnqualifiedType().getAsString();
        report(call->getBeginLoc(),
               "partmalloc: call to '%0' in '%1' gets the type '%2' from %3: %4 [partmalloc-%5]")
            << callee->getName() << llvm::StringRef(function_->getQualifiedNameAsString())
            << llvm::StringRef(type) << llvm::StringRef(source.from) << (is_void ? "its objects have no type" : "every object allocated here has that type")
            << (is_void ? "void" : "cast");
        return true;
    }

    // p = malloc(n): what a local variable last held, for its return.
    bool VisitBinaryOperator(clang::BinaryOperator *op) {
        if (op->getOpcode() != clang::BO_Assign)
            return true;
        if (const auto *ref = llvm::dyn_cast<clang::DeclRefExpr>(op->getLHS()->IgnoreParenImpCasts()))
            stored_[ref->getDecl()] = op->getRHS();
        return true;
    }

    bool VisitReturnStmt(clang::ReturnStmt *ret) {
        if (!function_ || wrapper_reported_.count(function_) || !could_be_wrapper(function_) ||
            !returns_untyped_allocation(ret->getRetValue(), 0))
            return true;
        wrapper_reported_.insert(function_);
        std::string name = function_->getIdentifier()->getName().str();
        report(function_->getLocation(),
               "partmalloc: '%0' looks like an allocation wrapper: build with --wrapper=%0 [partmalloc-wrapper]")
            << llvm::StringRef(name);
        return true;
    }

private:
    template <unsigned N> clang::DiagnosticBuilder report(clang::SourceLocation at, const char (&format)[N]) {
        clang::DiagnosticsEngine &diags = ctx_.getDiagnostics();
        return diags.Report(at, diags.getCustomDiagID(clang::DiagnosticsEngine::Remark, format));
    }

    bool sized_by_sizeof(const clang::CallExpr *call, const clang::FunctionDecl *callee) const {
        unsigned sizes = size_args_of(callee);
        for (unsigned i = 0; i < call->getNumArgs() && i < 32; i++)
            if ((sizes >> i & 1) && holds_sizeof(call->getArg(i)))
                return true;
        return false;
    }

    bool sized_by_parameter(const clang::CallExpr *call, const clang::FunctionDecl *callee) const {
        unsigned sizes = size_args_of(callee);
        for (unsigned i = 0; i < call->getNumArgs() && i < 32; i++)
            if ((sizes >> i & 1) && uses_parameter(call->getArg(i), function_))
                return true;
        return false;
    }

    TypeSource type_source(const clang::CallExpr *call) {
        const clang::Stmt *at = call;
        clang::QualType returned = call->getType().getCanonicalType();
        for (;;) {
            auto parents = ctx_.getParents(*at);
            if (parents.empty())
                return {};
            if (const auto *cast = parents[0].get<clang::ExplicitCastExpr>()) {
                if (!cast->getType()->isPointerType())
                    return {};
                return {cast->getType()->getPointeeType(), "a cast"};
            }
            if (const auto *cast = parents[0].get<clang::ImplicitCastExpr>()) {
                if (cast->getType().getCanonicalType() != returned) {
                    if (!cast->getType()->isPointerType())
                        return {};
                    return {cast->getType()->getPointeeType(), stored_in(cast)};
                }
                at = cast;
                continue;
            }
            if (const auto *paren = parents[0].get<clang::ParenExpr>()) {
                at = paren;
                continue;
            }
            return {};
        }
    }

    // What an implicit conversion stores into.
    std::string stored_in(const clang::Stmt *conversion) {
        auto parents = ctx_.getParents(*conversion);
        if (!parents.empty())
            if (const auto *var = parents[0].get<clang::VarDecl>())
                return "the variable '" + var->getNameAsString() + "'";
        return "an assignment";
    }

    bool could_be_wrapper(const clang::FunctionDecl *fn) const {
        return fn->getIdentifier() && fn->getReturnType()->isPointerType() && !fn->hasAttr<clang::RestrictAttr>() &&
               !fn->hasAttr<clang::AllocSizeAttr>() && !named_.count(fn->getIdentifier()->getName().str());
    }

    // Whether e is (through parens, casts, pointer arithmetic and local
    // variables) an allocation sized by a parameter whose type is none,
    // void or char-like.
    bool returns_untyped_allocation(const clang::Expr *e, int depth) {
        if (!e || depth > 8)
            return false;
        e = e->IgnoreParenCasts();
        if (const auto *op = llvm::dyn_cast<clang::BinaryOperator>(e))
            if (op->isAdditiveOp() && op->getLHS()->getType()->isPointerType())
                return returns_untyped_allocation(op->getLHS(), depth + 1);
        if (const auto *ref = llvm::dyn_cast<clang::DeclRefExpr>(e)) {
            const auto *var = llvm::dyn_cast<clang::VarDecl>(ref->getDecl());
            if (!var || !var->isLocalVarDecl())
                return false;
            auto stored = stored_.find(var);
            const clang::Expr *value = stored != stored_.end() ? stored->second : var->getInit();
            return returns_untyped_allocation(value, depth + 1);
        }
        const auto *call = llvm::dyn_cast<clang::CallExpr>(e);
        const clang::FunctionDecl *callee = call ? call->getDirectCallee() : nullptr;
        if (!callee || !size_args_of(callee) || sized_by_sizeof(call, callee) || !sized_by_parameter(call, callee))
            return false;
        TypeSource source = type_source(call);
        return source.pointee.isNull() || is_untyped_pointee(source.pointee);
    }

    clang::ASTContext &ctx_;
    const std::set<std::string> &named_;
    clang::FunctionDecl *function_ = nullptr;
    std::map<const clang::Decl *, const clang::Expr *> stored_;
    std::set<const clang::FunctionDecl *> wrapper_reported_;
};

// Appends the file being compiled to $PARTMALLOC_REPORT_LOG, one line (a
// single write on a file opened O_APPEND: lines of parallel compiles do not
// mix).
void log_compiled_file(llvm::StringRef file) {
    const char *log = getenv("PARTMALLOC_REPORT_LOG");
    if (!log || !*log)
        return;
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    std::string line = file.str() + "\n";
    ssize_t written = write(fd, line.data(), line.size());
    (void)written; // a lost line only makes the count smaller
    close(fd);
}

// ---- the front end: attributes for the named wrappers ----

// The prefix of a forwarder's name: calls through a named variable that
// holds a function pointer go to __partmalloc_call_<variable's symbol>,
// declared malloc (the pass defines it and its companion).
const char forwarder_prefix[] = "__partmalloc_call_";

// Calls through the named function-pointer variables, turned into calls of
// their forwarders (the callee replaced, the arguments and the call's place
// in its expression kept: clang infers the type as for a direct call).
class ForwardVisitor : public clang::RecursiveASTVisitor<ForwardVisitor> {
public:
    ForwardVisitor(clang::ASTContext &ctx, const std::map<const clang::VarDecl *, clang::FunctionDecl *> &forwarders)
        : ctx_(ctx), forwarders_(forwarders) {}

    bool VisitCallExpr(clang::CallExpr *call) {
        const clang::Expr *e = call->getCallee()->IgnoreParenImpCasts();
        if (const auto *deref = llvm::dyn_cast<clang::UnaryOperator>(e)) // (*xmlMalloc)(n)
            if (deref->getOpcode() == clang::UO_Deref)
                e = deref->getSubExpr()->IgnoreParenImpCasts();
        const auto *ref = llvm::dyn_cast<clang::DeclRefExpr>(e);
        const auto *var = ref ? llvm::dyn_cast<clang::VarDecl>(ref->getDecl()) : nullptr;
        auto f = var ? forwarders_.find(var->getCanonicalDecl()) : forwarders_.end();
        if (f == forwarders_.end())
            return true;
        clang::FunctionDecl *fn = f->second;
        auto *target = clang::DeclRefExpr::Create(
            ctx_, clang::NestedNameSpecifierLoc(), clang::SourceLocation(), fn, false, ref->getExprLoc(),
            fn->getType(), ctx_.getLangOpts().CPlusPlus ? clang::VK_LValue : clang::VK_PRValue);
        call->setCallee(clang::ImplicitCastExpr::Create(ctx_, ctx_.getPointerType(fn->getType()),
                                                        clang::CK_FunctionToPointerDecay, target, nullptr,
                                                        clang::VK_PRValue, clang::FPOptionsOverride()));
        return true;
    }

private:
    clang::ASTContext &ctx_;
    const std::map<const clang::VarDecl *, clang::FunctionDecl *> &forwarders_;
};

class WrapperConsumer : public clang::ASTConsumer {
public:
    // A copy: clang destroys the action once it has made the consumer.
    WrapperConsumer(std::set<std::string> names, bool remarks) : names_(std::move(names)), remarks_(remarks) {}

    void Initialize(clang::ASTContext &ctx) override { ctx_ = &ctx; }

    bool HandleTopLevelDecl(clang::DeclGroupRef group) override {
        for (clang::Decl *d : group)
            visit(d);
        if (!forwarders_.empty()) {
            ForwardVisitor calls(*ctx_, forwarders_);
            for (clang::Decl *d : group)
                calls.TraverseDecl(d);
        }
        return true;
    }

    void HandleTranslationUnit(clang::ASTContext &ctx) override {
        if (!remarks_)
            return;
        SiteVisitor sites(ctx, names_);
        sites.TraverseDecl(ctx.getTranslationUnitDecl());
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
        auto *named = llvm::dyn_cast<clang::NamedDecl>(d);
        if (!named || !named->getIdentifier() || !names_.count(named->getIdentifier()->getName().str()))
            return;
        if (auto *var = llvm::dyn_cast<clang::VarDecl>(d)) {
            visit_variable(var);
            return;
        }
        auto *fn = llvm::dyn_cast<clang::FunctionDecl>(d);
        if (!fn) {
            warn(named, "it is neither a function nor a variable holding a pointer to a function; "
                        "it is left as it is");
            return;
        }
        if (!fn->getReturnType()->isPointerType()) {
            warn(fn, "it does not return a pointer; its calls are left as they are");
            return;
        }
        if (fn->hasAttr<clang::RestrictAttr>() || fn->hasAttr<clang::AllocSizeAttr>())
            return;
        fn->addAttr(clang::RestrictAttr::CreateImplicit(*ctx_, nullptr, clang::ParamIdx(), fn->getLocation(),
                                                        clang::RestrictAttr::GNU_malloc));
    }

    void warn(const clang::NamedDecl *d, const char *why) {
        std::string name = d->getIdentifier()->getName().str();
        if (!warned_.insert(name).second)
            return;
        clang::DiagnosticsEngine &diags = ctx_->getDiagnostics();
        unsigned id = diags.getCustomDiagID(clang::DiagnosticsEngine::Warning, "partmalloc: --wrapper=%0: %1");
        diags.Report(d->getLocation(), id) << llvm::StringRef(name) << why;
    }

    // A named variable at file scope holding a pointer to a function that
    // returns a pointer: its calls go to a forwarder declared malloc, which
    // the pass defines, with its companion (WrapperPass).
    void visit_variable(clang::VarDecl *var) {
        const clang::FunctionType *held = nullptr;
        if (const auto *ptr = var->getType()->getAs<clang::PointerType>())
            held = ptr->getPointeeType()->getAs<clang::FunctionType>();
        if (!held) {
            warn(var, "it is neither a function nor a variable holding a pointer to a function; "
                      "it is left as it is");
            return;
        }
        if (!held->getReturnType()->isPointerType()) {
            warn(var, "the function it points to does not return a pointer; its calls are left as they are");
            return;
        }
        const auto *proto = llvm::dyn_cast<clang::FunctionProtoType>(held);
        if (!proto || proto->isVariadic() || !var->hasGlobalStorage() || var->isLocalVarDeclOrParm()) {
            warn(var, "only calls through a variable at file scope, of a function with a prototype and "
                      "without '...', carry their callers' types; its calls are left as they are");
            return;
        }
        const clang::VarDecl *key = var->getCanonicalDecl();
        // a definition with internal linkage is kept, since the forwarder reads it
        if (var->isThisDeclarationADefinition() && !var->isExternallyVisible() && !var->hasAttr<clang::UsedAttr>())
            var->addAttr(clang::UsedAttr::CreateImplicit(*ctx_));
        if (forwarders_.count(key))
            return;
        std::string symbol = var->getName().str();
        if (ctx_->getLangOpts().CPlusPlus && !var->isExternC()) {
            std::unique_ptr<clang::MangleContext> mangle(ctx_->createMangleContext());
            if (mangle->shouldMangleDeclName(var)) {
                llvm::raw_string_ostream out(symbol);
                symbol.clear();
                mangle->mangleName(clang::GlobalDecl(var), out);
            }
        }
        clang::QualType type = var->getType()->getAs<clang::PointerType>()->getPointeeType();
        clang::SourceLocation at = var->getLocation();
        std::string name = forwarder_prefix + symbol;
        clang::TranslationUnitDecl *tu = ctx_->getTranslationUnitDecl();
        auto *fn = clang::FunctionDecl::Create(*ctx_, tu, at, at, clang::DeclarationName(&ctx_->Idents.get(name)),
                                               type, ctx_->getTrivialTypeSourceInfo(type, at), clang::SC_Extern);
        llvm::SmallVector<clang::ParmVarDecl *, 8> params;
        for (clang::QualType p : proto->getParamTypes())
            params.push_back(clang::ParmVarDecl::Create(*ctx_, fn, at, at, nullptr, p,
                                                        ctx_->getTrivialTypeSourceInfo(p, at), clang::SC_None,
                                                        nullptr));
        fn->setParams(params);
        fn->setImplicit(true);
        // the symbol as spelled, in C++ too (not mangled)
        fn->addAttr(clang::AsmLabelAttr::CreateImplicit(*ctx_, name, var->getSourceRange()));
        fn->addAttr(clang::RestrictAttr::CreateImplicit(*ctx_, nullptr, clang::ParamIdx(), at,
                                                        clang::RestrictAttr::GNU_malloc));
        forwarders_[key] = fn;
    }

    const std::set<std::string> names_;
    const bool remarks_;
    std::set<std::string> warned_;
    std::map<const clang::VarDecl *, clang::FunctionDecl *> forwarders_;
    clang::ASTContext *ctx_ = nullptr;
};

class WrapperAction : public clang::PluginASTAction {
protected:
    std::unique_ptr<clang::ASTConsumer> CreateASTConsumer(clang::CompilerInstance &, llvm::StringRef file) override {
        if (remarks_ && file != skip_)
            log_compiled_file(file);
        return std::make_unique<WrapperConsumer>(names_, remarks_);
    }

    bool ParseArgs(const clang::CompilerInstance &ci, const std::vector<std::string> &args) override {
        for (const std::string &arg : args) {
            if (arg == "remarks") {
                remarks_ = true;
                continue;
            }
            if (arg.rfind("skip=", 0) == 0) { // partmalloc cc's own file: not logged as compiled
                skip_ = arg.substr(5);
                continue;
            }
            if (arg.rfind("names=", 0) != 0) {
                clang::DiagnosticsEngine &diags = ci.getDiagnostics();
                unsigned id = diags.getCustomDiagID(clang::DiagnosticsEngine::Error,
                                                    "partmalloc plugin: unknown argument '%0' (accepted: names=LIST, remarks, skip=FILE)");
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
    bool remarks_ = false;
    std::string skip_;
};

// ---- the pass: wrappers kept out of line, static wrappers' companions,
//      the forwarders of function-pointer variables ----

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

// The C library's allocator a variable of this function type may hold,
// whose companion (partmalloc's) has the companion's own signature: malloc,
// calloc or realloc, or none.
const char *library_allocator_of_type(llvm::FunctionType *ft, llvm::Type *intptr) {
    if (!ft->getReturnType()->isPointerTy() || ft->isVarArg())
        return nullptr;
    if (ft->getNumParams() == 1 && ft->getParamType(0) == intptr)
        return "malloc";
    if (ft->getNumParams() == 2 && ft->getParamType(0) == intptr && ft->getParamType(1) == intptr)
        return "calloc";
    if (ft->getNumParams() == 2 && ft->getParamType(0)->isPointerTy() && ft->getParamType(1) == intptr)
        return "realloc";
    return nullptr;
}

// The function type's parameter attributes (zeroext and the like), with
// `extra` more parameters without any.
llvm::AttributeList params_of(llvm::LLVMContext &c, const llvm::AttributeList &from, unsigned n, unsigned extra) {
    llvm::SmallVector<llvm::AttributeSet, 8> params;
    for (unsigned i = 0; i < n; i++)
        params.push_back(from.getParamAttrs(i));
    for (unsigned i = 0; i < extra; i++)
        params.push_back(llvm::AttributeSet());
    return llvm::AttributeList::get(c, llvm::AttributeSet(), from.getRetAttrs(), params);
}

// The forwarders of the calls through named function-pointer variables
// (WrapperConsumer::visit_variable), declared by the front end and called
// with allocation tokens, get their definitions here, internal to the
// module: the forwarder calls whatever function its variable holds, and its
// companion __alloc_token___partmalloc_call_<variable>(args..., token)
//   - when the variable still holds the C library's malloc, calloc or
//     realloc (partmalloc's, in a program linked with it), and the
//     variable's type is that function's, calls partmalloc's companion of
//     it with the token (a tail call: the call site stays the caller's);
//   - otherwise (a library's own allocator, or one the program installed)
//     opens a token scope with the caller's token and return address around
//     the call of that function, as a wrapper's companion does.
void define_forwarders(llvm::Module &m, std::vector<llvm::GlobalValue *> &keep) {
    llvm::LLVMContext &c = m.getContext();
    llvm::Type *intptr = m.getDataLayout().getIntPtrType(c);
    llvm::PointerType *ptr = llvm::PointerType::getUnqual(c);
    std::vector<llvm::Function *> forwarders;
    for (llvm::Function &f : m)
        if (f.isDeclaration() && f.getName().starts_with(forwarder_prefix) && !f.use_empty() && !f.isVarArg())
            forwarders.push_back(&f);
    for (llvm::Function *f : forwarders) {
        llvm::StringRef symbol = f->getName().substr(sizeof forwarder_prefix - 1);
        llvm::GlobalVariable *var = m.getNamedGlobal(symbol);
        if (!var)
            var = new llvm::GlobalVariable(m, ptr, false, llvm::GlobalValue::ExternalLinkage, nullptr, symbol);
        llvm::FunctionType *ft = f->getFunctionType();
        llvm::AttributeList attrs = params_of(c, f->getAttributes(), ft->getNumParams(), 0);

        f->setLinkage(llvm::GlobalValue::InternalLinkage);
        f->addFnAttr(llvm::Attribute::NoInline);
        f->setSubprogram(nullptr); // a declaration's (call-site debug info), not a definition's
        llvm::IRBuilder<> fb(llvm::BasicBlock::Create(c, "entry", f));
        llvm::SmallVector<llvm::Value *, 8> args;
        for (llvm::Argument &a : f->args())
            args.push_back(&a);
        llvm::CallInst *held = fb.CreateCall(ft, fb.CreateLoad(ptr, var), args);
        held->setAttributes(attrs);
        fb.CreateRet(held);
        keep.push_back(f);

        std::string name = "__alloc_token_" + f->getName().str();
        if (m.getFunction(name))
            continue;
        llvm::SmallVector<llvm::Type *, 8> params(ft->params().begin(), ft->params().end());
        params.push_back(intptr);
        llvm::FunctionType *ct = llvm::FunctionType::get(ft->getReturnType(), params, false);
        llvm::Function *comp = llvm::Function::Create(ct, llvm::GlobalValue::InternalLinkage, name, m);
        comp->setAttributes(params_of(c, f->getAttributes(), ft->getNumParams(), 1));
        comp->addFnAttr(llvm::Attribute::NoInline);
        llvm::Value *token = comp->getArg(ft->getNumParams());
        args.clear();
        for (unsigned i = 0; i < ft->getNumParams(); i++)
            args.push_back(comp->getArg(i));
        llvm::BasicBlock *entry = llvm::BasicBlock::Create(c, "entry", comp);
        llvm::BasicBlock *scoped = llvm::BasicBlock::Create(c, "scoped", comp);
        llvm::IRBuilder<> b(entry);
        llvm::Value *fp = b.CreateLoad(ptr, var);
        if (const char *lib = library_allocator_of_type(ft, intptr)) {
            llvm::BasicBlock *typed = llvm::BasicBlock::Create(c, "typed", comp);
            llvm::FunctionCallee libc = m.getOrInsertFunction(lib, ft);
            b.CreateCondBr(b.CreateICmpEQ(fp, libc.getCallee()), typed, scoped);
            b.SetInsertPoint(typed);
            llvm::FunctionCallee own = m.getOrInsertFunction(std::string("__alloc_token_") + lib, ct);
            llvm::SmallVector<llvm::Value *, 8> targs(args.begin(), args.end());
            targs.push_back(token);
            llvm::CallInst *tc = b.CreateCall(own, targs);
            tc->setTailCallKind(llvm::CallInst::TCK_MustTail);
            b.CreateRet(tc);
        } else {
            b.CreateBr(scoped);
        }
        b.SetInsertPoint(scoped);
        llvm::FunctionCallee begin = m.getOrInsertFunction("pm_token_scope_begin", llvm::Type::getVoidTy(c), intptr, ptr);
        llvm::FunctionCallee end = m.getOrInsertFunction("pm_token_scope_end", llvm::Type::getVoidTy(c));
        llvm::Value *site = b.CreateIntrinsic(llvm::Intrinsic::returnaddress, {}, {b.getInt32(0)});
        b.CreateCall(begin, {token, site});
        llvm::CallInst *call = b.CreateCall(ft, fp, args);
        call->setAttributes(attrs);
        b.CreateCall(end);
        b.CreateRet(call);
        keep.push_back(comp);
    }
}

struct WrapperPass : llvm::PassInfoMixin<WrapperPass> {
    llvm::PreservedAnalyses run(llvm::Module &m, llvm::ModuleAnalysisManager &) {
        unsigned kind = m.getContext().getMDKindID("alloc_token");
        std::vector<llvm::GlobalValue *> keep;
        define_forwarders(m, keep);
        std::vector<llvm::Function *> wrappers;
        std::set<llvm::Function *> seen;
        for (llvm::Function &f : m)
            for (llvm::Instruction &i : llvm::instructions(f)) {
                auto *cb = llvm::dyn_cast<llvm::CallBase>(&i);
                llvm::Function *callee = cb ? cb->getCalledFunction() : nullptr;
                if (!callee || callee->isDeclaration() || callee->isVarArg() || !cb->getMetadata(kind) ||
                    is_library_allocator(callee->getName()) || callee->getName().starts_with(forwarder_prefix))
                    continue;
                if (seen.insert(callee).second)
                    wrappers.push_back(callee);
            }
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
