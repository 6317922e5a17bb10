// A C++ program for the partmalloc command's tests, built with
// `partmalloc c++`: its types have long names with commas
// (std::map<int, std::basic_string<char>>) and nested templates, so the
// histogram's <types> column must keep each name whole and never show an
// empty one. It keeps 100 `Widget` objects and 20 map entries alive and
// prints the Widget token:
//   token <Widget>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

struct Widget {
    Widget *next;
    int value;
};

int main() {
    std::setvbuf(stdout, nullptr, _IONBF, 0);
    static std::vector<Widget *> keep;
    static std::map<int, std::string> names;
    for (int i = 0; i < 100; i++)
        keep.push_back(new Widget{nullptr, i});
    for (int i = 0; i < 20; i++)
        names[i] = std::string(40, 'x');
    std::printf("token %zu\n", static_cast<size_t>(__builtin_infer_alloc_token(sizeof(Widget))));
    return 0;
}
